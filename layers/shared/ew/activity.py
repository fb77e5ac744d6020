"""What the watcher did, read back for the weekly digest and the monthly summary (DESIGN.md §3).

Pings live in two tables: `ew-pings` (open chains) and `ew-pings-archive` (chains a renewal closed).
Both count: a ping sent on Monday is still a ping sent this week after Wednesday's renewal archived it.
Every read is a paginated Scan with a projection, so the number of requests grows with 1 MB pages,
never with items (no Query per item), however long the sheet is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ew.chain import RENEW, Ack
from ew.store import ACK_FIELDS, ack_from_row
from opskit.bulk_reads import paused_gc, plain_json_reads

Row = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class SentPing:
    """A ping row as the reports read it, from either table."""

    item_id: str
    cycle_expiry: date
    chain_index: int
    move: str
    sent_on: date  # the delivery date (a deferred ping counts from the day it goes out)
    channel: str  # "slack" or "email": the channel actually used once sent
    status: str  # "sent", or "scheduled" / "sending" while it waits or is in flight
    # When it goes out (the row's send_at: the moment it was sent, or the one its deferral waits for);
    # `sent_on` is its local date. None only for a row written without one.
    send_at: datetime | None = None

    @property
    def sent(self) -> bool:
        return self.status == "sent"


_PING_FIELDS = (
    "item_id", "cycle_expiry", "chain_index", "move", "ping_date", "dispatched_via", "status", "send_at"
)  # fmt: skip


class ActivityReader:
    def __init__(
        self,
        client: Any,
        pings_table: str,
        archive_table: str,
        ack_table: str,
        *,
        audit_table: str | None = None,
        page_size: int | None = None,
    ) -> None:
        """`audit_table`: where drive-sync records the renewals typed into the sheet (the summary
        reads it; the digest does not). `page_size` caps the items per Scan page (tests); leave it
        unset in production."""
        self._client = client
        self.pings_table = pings_table
        self.archive_table = archive_table
        self.ack_table = ack_table
        self.audit_table = audit_table
        self._page_size = page_size
        self.requests = 0  # DynamoDB requests made so far: pages, not items

    def pings(self) -> list[SentPing]:
        """Every ping of open and closed chains, sorted by (delivery date, item, cycle, index). All of
        them, not just the period's: where an item stands depends on its whole current chain."""
        # Every ping ever sent: read as the tick reads its heads (benchmarks/digest.py).
        with paused_gc(), plain_json_reads(self._client):
            rows = [
                *self._scan(self.pings_table, _PING_FIELDS),
                *self._scan(self.archive_table, _PING_FIELDS),
            ]
            pings = [_ping(row) for row in rows]
        return sorted(pings, key=lambda p: (p.sent_on, p.item_id, p.cycle_expiry, p.chain_index))

    def acks(self) -> list[Ack]:
        """Every recorded answer, sorted by (item, time). All of them: a snooze or an ack-only from
        months ago still says where an item's current chain stands."""
        with paused_gc(), plain_json_reads(self._client):
            acks = [ack_from_row(row) for row in self._scan(self.ack_table, ACK_FIELDS)]
        return sorted(acks, key=lambda a: (a.item_id, a.at))

    def sheet_renewals(self) -> list[Ack]:
        """Every renewal typed into the sheet, as a Renew of the cycle it closed, at the time drive-sync
        noted it. drive-sync writes one audit row `sheet_renewal` per renewal that closed a chain, and
        none when a click had renewed that cycle already (its ack is the renewal): so no renewal is
        counted twice."""
        if not self.audit_table:
            return []
        with paused_gc(), plain_json_reads(self._client):
            rows = list(self._scan(self.audit_table, _AUDIT_FIELDS, action=SHEET_RENEWAL))
        return sorted((_sheet_renewal(row) for row in rows), key=lambda a: (a.item_id, a.at))

    def _scan(self, table: str, fields: tuple[str, ...], *, action: str | None = None) -> Iterator[Row]:
        names = {f"#a{i}": name for i, name in enumerate(fields)}
        params: dict[str, Any] = {
            "TableName": table,
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
        }
        if action is not None:  # the audit trail's rows of one action (filtered after the read)
            params["FilterExpression"] = "#action = :action"
            params["ExpressionAttributeNames"] = {**names, "#action": "action"}
            params["ExpressionAttributeValues"] = {":action": {"S": action}}
        if self._page_size:
            params["Limit"] = self._page_size
        while True:
            page = self._client.scan(**params)
            self.requests += 1
            yield from page.get("Items", [])
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last


SHEET_RENEWAL = "sheet_renewal"  # ew.drive_sync's audit action
_AUDIT_FIELDS = ("item_id", "ts", "by_user", "before", "after")


def _sheet_renewal(row: Row) -> Ack:
    # ts is "<UTC time>#<action>" (ew.audit); before and after carry the old and new expiry dates.
    before, after = json.loads(_text(row, "before", "{}")), json.loads(_text(row, "after", "{}"))
    return Ack(
        item_id=_text(row, "item_id"),
        cycle_expiry=date.fromisoformat(before["expiry_date"]),
        action=RENEW,
        at=datetime.fromisoformat(_text(row, "ts").split("#", 1)[0]),
        by=_text(row, "by_user"),
        new_expiry=date.fromisoformat(after["expiry_date"]),
    )


def _text(row: Row, name: str, default: str = "") -> str:
    value = row.get(name)
    return str(value["S"]) if value and "S" in value else default


def _ping(row: Row) -> SentPing:
    return SentPing(
        item_id=_text(row, "item_id"),
        cycle_expiry=date.fromisoformat(_text(row, "cycle_expiry")),
        chain_index=int(row["chain_index"]["N"]),
        move=_text(row, "move"),
        sent_on=date.fromisoformat(_text(row, "ping_date")),
        channel=_text(row, "dispatched_via"),
        status=_text(row, "status", "sent"),
        send_at=datetime.fromisoformat(_text(row, "send_at")) if "send_at" in row else None,
    )
