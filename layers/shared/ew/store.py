"""The watcher's chain state in DynamoDB (DESIGN.md §4, §6, §9).

Four tables: `pings` (one row per ping, keyed by item and chain index), `ack` (one row per click),
`archive` (pings of closed chains) and `heads` (one row per item and cycle: what the tick reads).
`ChainStore` wraps a boto3 DynamoDB *client* (tests and the local runner pass a moto one) and converts
rows to and from the `Ping` / `Ack` / `CycleHead` values of `ew.chain`.

The chain heads keep the tick's read proportional to the items, not to their history: the tick reads
one row per item and cycle instead of every ping and click ever stored. A head mirrors its cycle's rows
in pings and ack, one attribute per row (`p<index>` and `a<ack_date>`, holding only what the policy
reads), and it is written in the same `TransactWriteItems` as the row it mirrors (claim, release,
record_ack), so no crash can leave one without the other. Archiving (batched, not transactional)
removes the rows first and their head attributes after: a process that dies in between leaves head
attributes for rows that are gone, which the tick sees as a closed cycle to archive and archives again,
cleaning them. A head that lacks a row (written before heads existed) is repaired by the duplicate
claim the tick's next decision makes. `rebuild_heads` derives every head from the two tables; the
tick does it on its first run after an upgrade (the table then lacks its "built" marker).

Delivery is at least once (§9), so a ping is *claimed* with a conditional write before it is sent:

    claim(status="sending") -> send -> mark_sent                  (immediate)
                                    -> release                    (failed: a retry may claim again)
    claim(status="sending") -> create the schedule -> mark_scheduled        (deferred; failed: release)
        ... the schedule fires: start_deferred -> send -> mark_sent
                                                       -> return_to_scheduled (failed)

A "sending" claim is a lease (`lease_until`): while its holder may still be alive, a duplicate raises
`ClaimHeld` (retryable: Lambda tries again later); once the lease has passed the holder is certainly
gone (killed at its timeout) and the next attempt takes the claim over. A cycle closed by a Renew (an
ack `renew` of that cycle) is never claimed again, so a late duplicate after a Renew sends nothing.

Row formats (all dates ISO strings, so they sort and compare as text):

- pings: item_id S, chain_index N, cycle_expiry, move, recipient, ping_date (= `Ping.sent_on`),
  send_at (with offset), dispatched_via, status, claimed_at (UTC), lease_until (UTC, while "sending"),
  optional message_ref, optional tz (the business timezone it was sent under: a click on it reads its
  day there, so ack-handler never needs Parameter Store on a click).
- ack: item_id S, ack_date S (`Ack.at` in UTC with microseconds), action, optional by_user,
  cycle_expiry, optional chain_index N, snooze_until, old_expiry, new_expiry.
- archive: item_id S, chain_key S (`f"{cycle_expiry}#{chain_index:04d}"`), the ping row, archived_at.
- heads: item_id S, cycle_expiry S, head_version N (+1 on every write), `p<chain_index>` =
  "<move> <ping_date>" per ping row, `a<ack_date>` = "<action> <snooze_until> <new_expiry>" per ack
  row ("-" for none). One marker row (item_id "#", cycle_expiry "#built") says the heads are complete.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ew.chain import ESCALATE, RENEW, Ack, CycleHead, Ping, PingRef, essential_acks
from opskit.bulk_reads import paused_gc, plain_json_reads

# How long a "sending" claim is held when the caller names no lease: dispatch's 30-second timeout plus a
# margin. dispatch passes its own (the invocation's remaining time plus a margin).
DEFAULT_LEASE = timedelta(seconds=40)
# A "sending" row written before claims carried `lease_until` is taken over after this long.
LEGACY_STALE_CLAIM = timedelta(minutes=5)

SCHEDULED = "scheduled"
SENDING = "sending"
SENT = "sent"
STATUSES = (SCHEDULED, SENDING, SENT)

SLACK = "slack"
EMAIL = "email"
CHANNELS = (SLACK, EMAIL)

BATCH_WRITE_MAX = 25  # DynamoDB's per-request limits
BATCH_GET_MAX = 100
TRANSACT_MAX = 100
_BATCH_ATTEMPTS = 8
_HEAD_SET_MAX = 50  # attributes per head update: keeps each expression far below DynamoDB's 4 KB
BUILT = {"item_id": {"S": "#"}, "cycle_expiry": {"S": "#built"}}  # the heads table's marker row

Row = dict[str, dict[str, Any]]  # a DynamoDB item in the client's attribute-value format


class ClaimHeld(RuntimeError):
    """Another attempt holds the ping's claim and may still be sending it: try again after its lease
    (raised, not returned, so that Lambda retries the event instead of counting it as done)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PingRecord:
    """A ping row as stored: the ping plus its delivery state."""

    ping: Ping
    status: str
    send_at: datetime
    channel: str
    claimed_at: datetime
    message_ref: str | None = None
    lease_until: datetime | None = None  # set while "sending"
    timezone: str | None = None  # the business timezone when it was claimed (None: rows before it was kept)


def heads_table_for(pings_table: str) -> str:
    """`ew-pings` -> `ew-chain-heads`: template.yaml names the tables so, which lets every caller that
    names the other three keep doing so."""
    base = pings_table[: -len("pings")] if pings_table.endswith("pings") else f"{pings_table}-"
    return f"{base}chain-heads"


class ChainStore:
    def __init__(
        self,
        client: Any,
        pings_table: str,
        ack_table: str,
        archive_table: str,
        clock: Callable[[], datetime] = utc_now,
        *,
        scan_page_size: int | None = None,
        heads_table: str | None = None,
    ) -> None:
        """`scan_page_size` caps the items per Scan page (DynamoDB's own cap is 1 MB a page);
        leave it unset in production. `heads_table` defaults to `heads_table_for(pings_table)`."""
        self._client = client
        self.pings_table = pings_table
        self.ack_table = ack_table
        self.archive_table = archive_table
        self.heads_table = heads_table or heads_table_for(pings_table)
        self._clock = clock
        self._scan_page_size = scan_page_size
        self.request_count = 0  # DynamoDB requests made by the latest load()

    # -- the tick ---------------------------------------------------------------------------------

    def load(self) -> tuple[list[Ping], list[Ack]]:
        """Every ping and ack, with paginated Scans: the number of requests grows with pages, never
        with items (no Query per item). Pings come sorted by (item, cycle, index), acks by (item, time)."""
        self.request_count = 0
        pings = [_ping_from_row(row) for row in self._scan(self.pings_table, _PING_FIELDS)]
        acks = [ack_from_row(row) for row in self._scan(self.ack_table, ACK_FIELDS)]
        pings.sort(key=lambda p: (p.item_id, p.cycle_expiry, p.chain_index))
        acks.sort(key=lambda a: (a.item_id, a.at))
        return pings, acks

    def load_heads(self) -> list[CycleHead]:
        """Every chain head, with one paginated Scan of the heads table: what the tick decides on. Its
        size grows with the items that have a chain, not with their pings and clicks. The first call
        after an upgrade from a version without heads builds them (`rebuild_heads`)."""
        self.request_count = 0
        with paused_gc(), plain_json_reads(self._client):
            heads, built = self._read_heads()
            if not built:
                self.rebuild_heads()
                heads, built = self._read_heads()
        return heads

    def _read_heads(self) -> tuple[list[CycleHead], bool]:
        heads: list[CycleHead] = []
        built = False
        for row in self._scan(self.heads_table):
            if row["item_id"]["S"] == BUILT["item_id"]["S"] and row["cycle_expiry"] == BUILT["cycle_expiry"]:
                built = True
            else:
                heads.append(_head_from_row(row))
        return heads, built

    def rebuild_heads(self) -> int:
        """Derive every head from the pings and ack tables (merged into what is there: a write made
        meanwhile is kept), then mark the heads table built. One request per head: for an upgrade,
        or after restoring pings or ack from a backup. Returns the number of heads written.

        Not atomic with dispatch: a claim given back (release) between this read and its write stays
        in its head, and the tick counts a ping that is not there until its cycle ends (a reminder
        waits one interval more). The first tick after an upgrade runs it at 08:00, before the day's
        sends."""
        pings = self._scan(self.pings_table, _HEAD_PING_FIELDS)
        acks = self._scan(self.ack_table, _HEAD_ACK_FIELDS)
        written = 0
        for head in head_rows(pings, acks):
            entries = {name: value["S"] for name, value in head.items() if name[0] in "pa"}
            names = list(entries)
            for start in range(0, max(len(names), 1), _HEAD_SET_MAX):
                chunk = {name: entries[name] for name in names[start : start + _HEAD_SET_MAX]}
                self._client.update_item(
                    **_head_update(self.heads_table, head["item_id"]["S"], head["cycle_expiry"]["S"], chunk)
                )
            written += 1
        self._client.put_item(TableName=self.heads_table, Item=BUILT)
        return written

    def forget_heads(self, heads: Iterable[CycleHead]) -> int:
        """Delete heads no decision needs any more (`ew.tick_plan.TickPlan.forget`), each only if
        nothing wrote to it since it was read (its version): a click landing meanwhile keeps it.
        Batched in transactions of 100; returns how many were deleted."""
        deletes = [
            {
                "Delete": {
                    "TableName": self.heads_table,
                    "Key": _head_key(head.item_id, head.cycle_expiry.isoformat()),
                    "ConditionExpression": "#ver = :ver",
                    "ExpressionAttributeNames": {"#ver": "head_version"},
                    "ExpressionAttributeValues": {":ver": _n(head.version)},
                }
            }
            for head in heads
        ]
        deleted = 0
        for start in range(0, len(deletes), TRANSACT_MAX):
            batch = deletes[start : start + TRANSACT_MAX]
            if self._transact(batch, any_condition=True):
                deleted += len(batch)
                continue
            for delete in batch:  # one of them changed meanwhile: the others one by one
                try:
                    self._client.delete_item(**delete["Delete"])
                    deleted += 1
                except ClientError as error:
                    if not _condition_failed(error):
                        raise
        return deleted

    def _scan(self, table: str, fields: tuple[str, ...] = ()) -> Iterator[Row]:
        # Only the attributes the reader needs: fewer bytes means fewer 1 MB pages and, above all,
        # less response parsing, which was most of a 100,000-item tick (benchmarks/README.md).
        params: dict[str, Any] = {"TableName": table}
        if fields:
            names = {f"#a{i}": name for i, name in enumerate(fields)}
            params.update(ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)
        if self._scan_page_size:
            params["Limit"] = self._scan_page_size
        while True:
            page = self._client.scan(**params)
            self.request_count += 1
            yield from page.get("Items", [])
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last

    # -- dispatch: claiming and sending -----------------------------------------------------------

    def claim(
        self,
        ping: Ping,
        send_at: datetime,
        channel: str,
        status: str,
        *,
        lease: timedelta = DEFAULT_LEASE,
        timezone: str | None = None,
        decided_at: datetime | None = None,
    ) -> bool:
        """Conditional put: True if this call owns the ping; False if there is nothing to send (a
        duplicate of a ping already sent or scheduled, or a cycle a Renew has closed, or one closed
        after `decided_at`, when the move was decided: a renewal typed into the sheet). Raises
        ClaimHeld while another attempt's "sending" lease runs; a lease that has passed is taken over
        (its holder died mid-send). A "sending" claim is held for `lease` from now.

        Chain indexes restart at 0 in every cycle, so the key may still hold a ping of an *earlier*
        cycle that nobody archived yet: that row is archived first and the claim retried. A row of
        a later cycle is never displaced (a late duplicate of an old move sends nothing)."""
        if status not in (SCHEDULED, SENDING):
            raise ValueError(f"a claim starts as {SCHEDULED!r} or {SENDING!r}, not {status!r}")
        _check_channel(channel)
        for _ in range(3):
            now = self._now()
            row = _ping_row(ping, send_at, channel, status, now)
            if timezone:
                row["tz"] = _s(timezone)
            if status == SENDING:
                row["lease_until"] = _s(_utc_iso(now + lease))
            condition, values = _lease_passed(now)
            put = {
                "TableName": self.pings_table,
                "Item": row,
                # A lease that has passed is taken over only within the same cycle: another cycle's
                # row is archived first (below), so that its head does not keep a ping that is gone.
                "ConditionExpression": (
                    f"attribute_not_exists(item_id) OR ({condition} AND cycle_expiry = :cycle)"
                ),
                "ExpressionAttributeNames": {"#st": "status"},
                "ExpressionAttributeValues": {**values, ":cycle": row["cycle_expiry"]},
            }
            head = _head_update(
                self.heads_table, ping.item_id, row["cycle_expiry"]["S"], dict([_ping_entry(row)])
            )
            if self._transact([{"Put": put}, {"Update": head}]):
                if self.renewed(ping.item_id, ping.cycle_expiry) or (
                    decided_at is not None and self.closed_since(ping.item_id, ping.cycle_expiry, decided_at)
                ):
                    # Checked after the put: a Renew recorded before this point is seen here, and
                    # one recorded after it archives this row with the rest of the chain.
                    self.release(ping.item_id, ping.chain_index, status=status)
                    return False
                return True
            existing = self._get_row(ping.item_id, ping.chain_index)
            if existing is None:
                continue  # deleted in between (released or archived): try again
            if existing["cycle_expiry"]["S"] > ping.cycle_expiry.isoformat():
                return False
            if existing["cycle_expiry"]["S"] == ping.cycle_expiry.isoformat():
                _check_not_held(existing, now)
                if existing["status"]["S"] != SENDING:
                    # A duplicate: nothing to send. Make sure the head shows the ping, or the tick
                    # would decide this index again every day (a head written before heads existed).
                    self._mirror_in_head(existing)
                    return False
                continue  # its lease ended between the put and the read: take it over
            self._archive_rows([existing])
        return False

    def start_deferred(
        self,
        item_id: str,
        chain_index: int,
        cycle_expiry: date | None = None,
        *,
        lease: timedelta = DEFAULT_LEASE,
    ) -> bool:
        """The deferred schedule fired: move "scheduled" -> "sending" conditionally (or take over a
        "sending" claim whose lease has passed); False when it is already sent, missing (archived) or
        closed by a Renew; ClaimHeld while another attempt's lease runs. With `cycle_expiry`, also
        False when the row belongs to another cycle (the chain was renewed meanwhile)."""
        now = self._now()
        passed, values = _lease_passed(now)
        condition = f"attribute_exists(item_id) AND (#st = :scheduled OR ({passed}))"
        values = {
            **values,
            ":scheduled": _s(SCHEDULED),
            ":now": _s(_utc_iso(now)),
            ":lease_until": _s(_utc_iso(now + lease)),
        }
        if cycle_expiry is not None:
            condition += " AND cycle_expiry = :cycle"
            values[":cycle"] = _s(cycle_expiry.isoformat())
        started = self._update(
            item_id,
            chain_index,
            "SET #st = :sending, claimed_at = :now, lease_until = :lease_until",
            condition,
            values,
        )
        if not started:
            existing = self._get_row(item_id, chain_index)
            if existing and (
                cycle_expiry is None or existing["cycle_expiry"]["S"] == cycle_expiry.isoformat()
            ):
                _check_not_held(existing, now)
            return False
        row = self._get_row(item_id, chain_index)
        if row and self.renewed(item_id, date.fromisoformat(row["cycle_expiry"]["S"])):
            # A Renew closed the chain after this ping was scheduled, and its archive missed the row.
            self._archive_rows([row])
            return False
        return True

    def mark_sent(self, item_id: str, chain_index: int, channel: str, message_ref: str | None) -> None:
        """Record the delivery: status "sent", the channel actually used, the message reference
        (Slack channel+ts, SES message id) if any. A row archived meanwhile is not recreated."""
        _check_channel(channel)
        values = {":sent": _s(SENT), ":channel": _s(channel)}
        if message_ref is None:
            update = "SET #st = :sent, dispatched_via = :channel REMOVE message_ref, lease_until"
        else:
            update = "SET #st = :sent, dispatched_via = :channel, message_ref = :ref REMOVE lease_until"
            values[":ref"] = _s(message_ref)
        self._update(item_id, chain_index, update, "attribute_exists(item_id)", values)

    def release(self, item_id: str, chain_index: int, status: str = SENDING) -> None:
        """Give a claim back so a retry can claim again: a failed immediate send ("sending"), or a
        deferral whose schedule could not be created ("scheduled"). A ping in any other status, or
        missing, is left alone."""
        row = self._get_row(item_id, chain_index)
        if row is None or row["status"]["S"] != status:
            return
        cycle = row["cycle_expiry"]["S"]
        delete = {
            "TableName": self.pings_table,
            "Key": _ping_key(item_id, chain_index),
            "ConditionExpression": "#st = :claimed AND cycle_expiry = :cycle",
            "ExpressionAttributeNames": {"#st": "status"},
            "ExpressionAttributeValues": {":claimed": _s(status), ":cycle": _s(cycle)},
        }
        head = _head_update(self.heads_table, item_id, cycle, remove=[f"p{chain_index}"])
        self._transact([{"Delete": delete}, {"Update": head}])  # False: changed meanwhile, left alone

    def mark_scheduled(self, item_id: str, chain_index: int) -> None:
        """The deferral's schedule exists: the "sending" claim taken while creating it becomes
        "scheduled" (no lease: it waits for its schedule, which starts it with start_deferred)."""
        self.return_to_scheduled(item_id, chain_index)

    def return_to_scheduled(self, item_id: str, chain_index: int) -> None:
        """A failed deferred send: back to "scheduled" (only if still "sending") so the scheduler's
        retry can send it."""
        self._update(
            item_id,
            chain_index,
            "SET #st = :scheduled REMOVE lease_until",
            "#st = :sending",
            {":scheduled": _s(SCHEDULED), ":sending": _s(SENDING)},
        )

    def get(self, item_id: str, chain_index: int) -> PingRecord | None:
        row = self._get_row(item_id, chain_index)
        return _record_from_row(row) if row else None

    def chain_pings(self, item_id: str) -> list[PingRecord]:
        """Every ping row of one item, by chain index (a Query: for the click path, not the tick)."""
        params: dict[str, Any] = {
            "TableName": self.pings_table,
            "KeyConditionExpression": "item_id = :item",
            "ExpressionAttributeValues": {":item": _s(item_id)},
            "ConsistentRead": True,
        }
        records: list[PingRecord] = []
        while True:
            page = self._client.query(**params)
            records.extend(_record_from_row(row) for row in page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if not last:
                break
            params["ExclusiveStartKey"] = last
        return sorted(records, key=lambda r: r.ping.chain_index)

    def with_clock(self, clock: Callable[[], datetime]) -> ChainStore:
        """This store judging leases by another clock (the local runner replays Lambda's retry timing)."""
        other = copy.copy(self)
        other._clock = clock
        return other

    def archived(self, item_id: str, cycle_expiry: date, chain_index: int) -> PingRecord | None:
        """This ping of a closed (renewed) cycle as the archive keeps it, or None."""
        key = {"item_id": _s(item_id), "chain_key": _s(f"{cycle_expiry.isoformat()}#{chain_index:04d}")}
        found = self._client.get_item(TableName=self.archive_table, Key=key, ConsistentRead=True)
        return _record_from_row(found["Item"]) if "Item" in found else None

    # -- closing a chain --------------------------------------------------------------------------

    def archive(self, pings: Iterable[Ping | PingRef]) -> int:
        """Copy these pings' rows to the archive (BatchWriteItem, 25 per request, retrying
        UnprocessedItems), then delete them from pings (batched too). Idempotent: archiving twice is
        harmless. Returns how many rows were archived by this call (0 the second time).

        A ping whose row is gone, or whose key now holds a ping of another cycle, is skipped."""
        wanted: dict[tuple[str, int], str] = {}
        for ping in pings:
            wanted[(ping.item_id, ping.chain_index)] = ping.cycle_expiry.isoformat()
        rows = [
            row
            for row in self._batch_get(list(wanted))
            if wanted.get((row["item_id"]["S"], int(row["chain_index"]["N"]))) == row["cycle_expiry"]["S"]
        ]
        archived = self._archive_rows(rows)
        # Pings whose rows were already gone: an archive that died before its head update left them
        # in their head, where the tick found them.
        found = {(row["item_id"]["S"], int(row["chain_index"]["N"])) for row in rows}
        self._drop_from_heads((i, cycle, n) for (i, n), cycle in wanted.items() if (i, n) not in found)
        return archived

    def _archive_rows(self, rows: list[Row]) -> int:
        """Copy to the archive, delete from pings, then take the rows out of their heads (in that
        order: a crash in between leaves head attributes of archived rows, never the reverse)."""
        if not rows:
            return 0
        archived_at = _s(_utc_iso(self._now()))
        copies = []
        for row in rows:
            chain_key = f"{row['cycle_expiry']['S']}#{int(row['chain_index']['N']):04d}"
            copies.append({**row, "chain_key": _s(chain_key), "archived_at": archived_at})
        self._batch_write(self.archive_table, [{"PutRequest": {"Item": copy}} for copy in copies])
        self._batch_write(
            self.pings_table,
            [
                {"DeleteRequest": {"Key": {"item_id": r["item_id"], "chain_index": r["chain_index"]}}}
                for r in rows
            ],
        )
        self._drop_from_heads(
            (r["item_id"]["S"], r["cycle_expiry"]["S"], int(r["chain_index"]["N"])) for r in rows
        )
        return len(rows)

    def _drop_from_heads(self, pings: Iterable[tuple[str, str, int]]) -> None:
        """Remove these (item, cycle, index) pings from their heads; a head that is gone stays gone."""
        by_head: dict[tuple[str, str], list[str]] = {}
        for item_id, cycle, index in pings:
            by_head.setdefault((item_id, cycle), []).append(f"p{index}")
        for (item_id, cycle), names in by_head.items():
            for start in range(0, len(names), _HEAD_SET_MAX):
                update = _head_update(
                    self.heads_table, item_id, cycle, remove=names[start : start + _HEAD_SET_MAX]
                )
                try:
                    self._client.update_item(**update, ConditionExpression="attribute_exists(item_id)")
                except ClientError as error:
                    if not _condition_failed(error):
                        raise

    def _mirror_in_head(self, row: Row) -> None:
        """Put this ping row's attribute in its head, if the row is still there (a repair)."""
        check = {
            "TableName": self.pings_table,
            "Key": _ping_key(row["item_id"]["S"], int(row["chain_index"]["N"])),
            "ConditionExpression": "cycle_expiry = :cycle",
            "ExpressionAttributeValues": {":cycle": row["cycle_expiry"]},
        }
        head = _head_update(
            self.heads_table, row["item_id"]["S"], row["cycle_expiry"]["S"], dict([_ping_entry(row)])
        )
        self._transact([{"ConditionCheck": check}, {"Update": head}])

    # -- clicks -----------------------------------------------------------------------------------

    def record_ack(
        self,
        ack: Ack,
        chain_index: int | None = None,
        old_expiry: date | None = None,
        *,
        also: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Store a click. The same ack recorded twice is stored once; a different ack of the same item
        in the same microsecond is moved on by a microsecond (ack_date is the key). `also`: more
        TransactWriteItems entries written in the same transaction (its audit row), unconditional."""
        if ack.at.tzinfo is None:
            raise ValueError("an ack time must be timezone-aware")
        at = ack.at
        for _ in range(10):
            row = _ack_row(ack, at, chain_index, old_expiry)
            put = {
                "TableName": self.ack_table,
                "Item": row,
                "ConditionExpression": "attribute_not_exists(ack_date)",
            }
            head = _head_update(
                self.heads_table, ack.item_id, row["cycle_expiry"]["S"], dict([_ack_entry(row)])
            )
            if self._transact([{"Put": put}, {"Update": head}, *map(dict, also)]):
                return
            existing = self._client.get_item(
                TableName=self.ack_table,
                Key={"item_id": row["item_id"], "ack_date": row["ack_date"]},
                ConsistentRead=True,
            ).get("Item")
            if existing == row:
                return
            at += timedelta(microseconds=1)
        raise RuntimeError(f"could not record an ack for {ack.item_id}: its time slot is taken")

    def closed_since(self, item_id: str, cycle_expiry: date, moment: datetime) -> bool:
        """Were pings of this cycle archived at or after `moment`? Then the cycle was closed (a renewal
        typed into the sheet leaves no Renew ack) after a move decided at `moment`: that move is stale.
        A cycle the sheet reopens later is alerted again: its moves are decided after the archive."""
        params: dict[str, Any] = {
            "TableName": self.archive_table,
            "KeyConditionExpression": "item_id = :item AND begins_with(chain_key, :cycle)",
            "FilterExpression": "archived_at >= :moment",
            "ExpressionAttributeValues": {
                ":item": _s(item_id),
                ":cycle": _s(f"{cycle_expiry.isoformat()}#"),
                ":moment": _s(_utc_iso(moment)),
            },
            "ProjectionExpression": "item_id",
        }
        return self._any_item(params)

    def renewed(self, item_id: str, cycle_expiry: date) -> bool:
        """Has a Renew closed this cycle? The same rule as the tick's (`ew.chain.current_item`): a
        cycle with a recorded renew is over, whatever the sheet says."""
        params: dict[str, Any] = {
            "TableName": self.ack_table,
            "KeyConditionExpression": "item_id = :item",
            "FilterExpression": "#action = :renew AND cycle_expiry = :cycle",
            "ExpressionAttributeNames": {"#action": "action"},
            "ExpressionAttributeValues": {
                ":item": _s(item_id),
                ":renew": _s(RENEW),
                ":cycle": _s(cycle_expiry.isoformat()),
            },
            "ProjectionExpression": "item_id",
            "ConsistentRead": True,
        }
        return self._any_item(params)

    # -- plumbing ---------------------------------------------------------------------------------

    def _any_item(self, params: dict[str, Any]) -> bool:
        """Does the query find at least one item? Page by page: a filter can leave a page empty while a
        later one matches."""
        while True:
            page = self._client.query(**params)
            if page.get("Items"):
                return True
            last = page.get("LastEvaluatedKey")
            if not last:
                return False
            params["ExclusiveStartKey"] = last

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the store's clock must return timezone-aware datetimes")
        return now

    def _transact(self, items: list[dict[str, Any]], *, any_condition: bool = False) -> bool:
        """TransactWriteItems: True when written, False when a condition refused it (the first item's,
        or any item's with `any_condition`). A conflict with another transaction is retried."""
        for attempt in range(_BATCH_ATTEMPTS):
            try:
                self._client.transact_write_items(TransactItems=items)
                return True
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                codes = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                if "ConditionalCheckFailed" in (codes if any_condition else codes[:1]):
                    return False
                if "TransactionConflict" not in codes:
                    raise
                _backoff(attempt)
        raise RuntimeError(f"DynamoDB kept refusing a transaction on {self.pings_table} and its heads")

    def _get_row(self, item_id: str, chain_index: int) -> Row | None:
        response = self._client.get_item(
            TableName=self.pings_table, Key=_ping_key(item_id, chain_index), ConsistentRead=True
        )
        item: Row | None = response.get("Item")
        return item

    def _update(
        self, item_id: str, chain_index: int, update: str, condition: str, values: dict[str, Any]
    ) -> bool:
        names = {"#st": "status"} if "#st" in update or "#st" in condition else None
        params: dict[str, Any] = {
            "TableName": self.pings_table,
            "Key": _ping_key(item_id, chain_index),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if names:
            params["ExpressionAttributeNames"] = names
        try:
            self._client.update_item(**params)
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def _batch_get(self, keys: list[tuple[str, int]]) -> list[Row]:
        rows: list[Row] = []
        for start in range(0, len(keys), BATCH_GET_MAX):
            request: dict[str, Any] = {
                self.pings_table: {
                    "Keys": [
                        _ping_key(item_id, index) for item_id, index in keys[start : start + BATCH_GET_MAX]
                    ],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(_BATCH_ATTEMPTS):
                response = self._client.batch_get_item(RequestItems=request)
                rows.extend(response.get("Responses", {}).get(self.pings_table, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                _backoff(attempt)
            else:
                raise RuntimeError(f"DynamoDB kept throttling reads from {self.pings_table}")
        return rows

    def _batch_write(self, table: str, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), BATCH_WRITE_MAX):
            pending: list[dict[str, Any]] = requests[start : start + BATCH_WRITE_MAX]
            for attempt in range(_BATCH_ATTEMPTS):
                response = self._client.batch_write_item(RequestItems={table: pending})
                pending = (response.get("UnprocessedItems") or {}).get(table, [])
                if not pending:
                    break
                _backoff(attempt)
            else:
                raise RuntimeError(f"DynamoDB kept throttling writes to {table}")


# -- chain heads ----------------------------------------------------------------------------------

_HEAD_PING_FIELDS = ("item_id", "cycle_expiry", "chain_index", "move", "ping_date")
_HEAD_ACK_FIELDS = ("item_id", "cycle_expiry", "ack_date", "action", "snooze_until", "new_expiry")
_ESCALATION = f"{ESCALATE} "


def _head_key(item_id: str, cycle: str) -> Row:
    return {"item_id": _s(item_id), "cycle_expiry": _s(cycle)}


def _head_update(
    table: str, item_id: str, cycle: str, put: dict[str, str] | None = None, remove: Iterable[str] = ()
) -> dict[str, Any]:
    """UpdateItem parameters that set and remove head attributes, and count the write."""
    names = {"#ver": "head_version"}
    values: dict[str, Any] = {":one": _n(1)}
    sets = []
    for i, (name, value) in enumerate((put or {}).items()):
        names[f"#s{i}"] = name
        values[f":s{i}"] = _s(value)
        sets.append(f"#s{i} = :s{i}")
    removes = []
    for i, name in enumerate(remove):
        names[f"#r{i}"] = name
        removes.append(f"#r{i}")
    expression = (f"SET {', '.join(sets)} " if sets else "") + (
        f"REMOVE {', '.join(removes)} " if removes else ""
    )
    return {
        "TableName": table,
        "Key": _head_key(item_id, cycle),
        "UpdateExpression": f"{expression}ADD #ver :one",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _ping_entry(row: Row) -> tuple[str, str]:
    """A ping row's attribute in its head: what the policy reads of it."""
    return f"p{row['chain_index']['N']}", f"{row['move']['S']} {row['ping_date']['S']}"


def _ack_entry(row: Row) -> tuple[str, str]:
    """An ack row's attribute in its head (its name sorts by time: ack_date is fixed-width UTC)."""
    snooze, new = (row[name]["S"] if name in row else "-" for name in ("snooze_until", "new_expiry"))
    return f"a{row['ack_date']['S']}", f"{row['action']['S']} {snooze} {new}"


def head_rows(pings: Iterable[Row], acks: Iterable[Row]) -> Iterator[Row]:
    """The heads of these ping and ack rows (wire format), as the store's writes would have made them."""
    heads: dict[tuple[str, str], Row] = {}
    for rows, entry in ((pings, _ping_entry), (acks, _ack_entry)):
        for row in rows:
            key = (row["item_id"]["S"], row["cycle_expiry"]["S"])
            head = heads.get(key)
            if head is None:
                head = heads[key] = {**_head_key(*key), "head_version": _n(1)}
            name, value = entry(row)
            head[name] = _s(value)
    yield from heads.values()


def _head_from_row(row: Row) -> CycleHead:
    """The tick's hot path, once per head: only the latest ping and the latest escalation become
    `Ping`s, and acks are decoded only in the heads that have some."""
    item_id = row["item_id"]["S"]
    cycle = date.fromisoformat(row["cycle_expiry"]["S"])
    last = escalation = -1
    last_text = escalation_text = ""
    indexes: list[int] = []
    ack_names: list[str] = []
    for name, value in row.items():
        kind = name[0]
        if kind == "p":
            index = int(name[1:])
            indexes.append(index)
            text = value["S"]
            if index > last:
                last, last_text = index, text
            if index > escalation and text.startswith(_ESCALATION):
                escalation, escalation_text = index, text
        elif kind == "a":
            ack_names.append(name)
    pings: tuple[Ping, ...] = ()
    if indexes:
        latest = _ping_from_entry(item_id, cycle, last, last_text)
        if 0 <= escalation != last:
            pings = (_ping_from_entry(item_id, cycle, escalation, escalation_text), latest)
        else:
            pings = (latest,)
        indexes.sort()
    acks: tuple[Ack, ...] = ()
    if len(ack_names) == 1:  # most heads with clicks have one
        acks = (_ack_from_entry(item_id, cycle, ack_names[0], row[ack_names[0]]["S"]),)
    elif ack_names:
        acks = essential_acks(_ack_from_entry(item_id, cycle, name, row[name]["S"]) for name in ack_names)
    version = row.get("head_version")
    return CycleHead(item_id, cycle, pings, acks, tuple(indexes), int(version["N"]) if version else 0)


def _ping_from_entry(item_id: str, cycle: date, index: int, text: str) -> Ping:
    move, _, sent = text.partition(" ")
    return Ping(item_id, cycle, index, move, date.fromisoformat(sent), "")


def _ack_from_entry(item_id: str, cycle: date, name: str, text: str) -> Ack:
    action, snooze, new = text.split(" ")
    return Ack(
        item_id,
        cycle,
        action,
        datetime.fromisoformat(name[1:]),
        snooze_until=None if snooze == "-" else date.fromisoformat(snooze),
        new_expiry=None if new == "-" else date.fromisoformat(new),
    )


# -- row conversion -------------------------------------------------------------------------------


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _utc_iso(moment: datetime) -> str:
    """Fixed-width UTC text (microseconds, +00:00), so string order is time order."""
    if moment.tzinfo is None:
        raise ValueError("expected a timezone-aware datetime")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _ping_key(item_id: str, chain_index: int) -> Row:
    return {"item_id": _s(item_id), "chain_index": _n(chain_index)}


def _ping_row(ping: Ping, send_at: datetime, channel: str, status: str, claimed_at: datetime) -> Row:
    if send_at.tzinfo is None:
        raise ValueError("send_at must be timezone-aware")
    return {
        **_ping_key(ping.item_id, ping.chain_index),
        "cycle_expiry": _s(ping.cycle_expiry.isoformat()),
        "move": _s(ping.move),
        "recipient": _s(ping.recipient),
        "ping_date": _s(ping.sent_on.isoformat()),
        "send_at": _s(send_at.isoformat()),
        "dispatched_via": _s(channel),
        "status": _s(status),
        "claimed_at": _s(_utc_iso(claimed_at)),
    }


_PING_FIELDS = ("item_id", "cycle_expiry", "chain_index", "move", "ping_date", "recipient")
ACK_FIELDS = (  # an ack row's attributes (ew-ack), as ack_from_row reads them
    "item_id", "cycle_expiry", "action", "ack_date", "by_user", "snooze_until", "new_expiry"
)  # fmt: skip


def _ping_from_row(row: Row) -> Ping:
    return Ping(
        item_id=row["item_id"]["S"],
        cycle_expiry=date.fromisoformat(row["cycle_expiry"]["S"]),
        chain_index=int(row["chain_index"]["N"]),
        move=row["move"]["S"],
        sent_on=date.fromisoformat(row["ping_date"]["S"]),
        recipient=row["recipient"]["S"],
    )


def _record_from_row(row: Row) -> PingRecord:
    ref = row.get("message_ref")
    lease = row.get("lease_until")
    zone = row.get("tz")
    return PingRecord(
        ping=_ping_from_row(row),
        status=row["status"]["S"],
        send_at=datetime.fromisoformat(row["send_at"]["S"]),
        channel=row["dispatched_via"]["S"],
        claimed_at=datetime.fromisoformat(row["claimed_at"]["S"]),
        message_ref=ref["S"] if ref else None,
        lease_until=datetime.fromisoformat(lease["S"]) if lease else None,
        timezone=zone["S"] if zone else None,
    )


def _ack_row(ack: Ack, at: datetime, chain_index: int | None, old_expiry: date | None) -> Row:
    row: Row = {
        "item_id": _s(ack.item_id),
        "ack_date": _s(_utc_iso(at)),
        "action": _s(ack.action),
        "cycle_expiry": _s(ack.cycle_expiry.isoformat()),
    }
    if ack.by:
        row["by_user"] = _s(ack.by)
    if chain_index is not None:
        row["chain_index"] = _n(chain_index)
    for name, value in (
        ("snooze_until", ack.snooze_until),
        ("old_expiry", old_expiry),
        ("new_expiry", ack.new_expiry),
    ):
        if value is not None:
            row[name] = _s(value.isoformat())
    return row


def ack_from_row(row: Row) -> Ack:
    def optional_date(name: str) -> date | None:
        value = row.get(name)
        return date.fromisoformat(value["S"]) if value else None

    by = row.get("by_user")
    return Ack(
        item_id=row["item_id"]["S"],
        cycle_expiry=date.fromisoformat(row["cycle_expiry"]["S"]),
        action=row["action"]["S"],
        at=datetime.fromisoformat(row["ack_date"]["S"]),
        by=by["S"] if by else "",
        snooze_until=optional_date("snooze_until"),
        new_expiry=optional_date("new_expiry"),
    )


def _lease_passed(now: datetime) -> tuple[str, dict[str, Any]]:
    """The condition "a sending claim whose holder is certainly gone", with its values."""
    condition = (
        "#st = :sending AND (lease_until < :now_utc"
        " OR (attribute_not_exists(lease_until) AND claimed_at < :legacy_stale))"
    )
    return condition, {
        ":sending": _s(SENDING),
        ":now_utc": _s(_utc_iso(now)),
        ":legacy_stale": _s(_utc_iso(now - LEGACY_STALE_CLAIM)),
    }


def _check_not_held(row: Row, now: datetime) -> None:
    """Raise ClaimHeld if this row is a "sending" claim whose holder may still be alive."""
    if row["status"]["S"] != SENDING:
        return
    lease = row.get("lease_until")
    until = (
        datetime.fromisoformat(lease["S"])
        if lease
        else datetime.fromisoformat(row["claimed_at"]["S"]) + LEGACY_STALE_CLAIM
    )
    if until >= now:
        ping = f"{row['item_id']['S']}: ping {row['chain_index']['N']} ({row['move']['S']})"
        raise ClaimHeld(
            f"{ping} is being sent by another attempt, whose claim holds until "
            f"{until.isoformat(timespec='seconds')}: retry after that"
        )


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}: expected one of {', '.join(CHANNELS)}")


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _backoff(attempt: int) -> None:
    time.sleep(min(0.05 * 2**attempt, 2.0))
