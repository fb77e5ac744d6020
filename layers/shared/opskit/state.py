"""Doing a thing once, however often a request arrives: a conditional put on a small key-value table
(pk, sk, TTL `expires_at`). Slack retries, double clicks and reused links all land here.

A claim is a lease (DESIGN.md §9):

    claim() -> Held   do the work, then complete(); if it fails, release() (the lease ends at once)
            -> Done   someone did it before: what they recorded
            -> Busy   (raised) another attempt holds it and its lease has not run out

A process can die between the claim and the work (timeout, out of memory): its claim stays "held" until
the lease runs out. Either way the next attempt takes the claim over with its *original* time and data
and completes that same work, so writes keyed by that time (an ack, an audit row) happen once however
many attempts get that far. `holding()` wraps the work: complete on success, release on an exception.

Why not Powertools' Idempotency utility (it has the same in-progress/expiry idea): its records are keyed
by a hash of the payload under one static partition key, so "who answered this ping first" could not
be looked up by the ping; the record expiry is read from the wall clock and the in-progress expiry only
from a registered Lambda context, so neither the local runner's simulated clock nor a test can move
them; and a takeover would re-run the new caller's work, not complete the interrupted one. This table
already holds the answers, proposals and used links; the lease is a status and two attributes on it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

DEFAULT_KEEP = timedelta(days=90)
HELD, DONE = "held", "done"


@dataclass(frozen=True)
class Done:
    """Who did it first, and what they recorded."""

    at: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class Held:
    """A claim this attempt holds: do the work it names (`data`, first recorded at `at`), then complete
    it. `taken_over`: an attempt that died held it first; finish *its* work."""

    pk: str
    sk: str
    at: datetime
    data: dict[str, Any]
    taken_over: bool
    token: str = field(repr=False)
    row: dict[str, Any] = field(repr=False, compare=False)


class Busy(Exception):
    """Another attempt holds this claim and may still be alive: try again once its lease has run out."""

    def __init__(self, pk: str, sk: str, until: datetime):
        super().__init__(f"{pk} {sk} is held until {until.isoformat()}")
        self.until = until


class StateTable:
    def __init__(self, client: Any, table: str):
        self.client = client
        self.table = table

    def claim(
        self,
        pk: str,
        sk: str,
        data: Mapping[str, Any],
        now: datetime,
        *,
        lease: timedelta,
        keep: timedelta = DEFAULT_KEEP,
    ) -> Held | Done:
        """Held: the thing is ours to do (complete or release it). Done: what the first recorded.
        Raises Busy while another attempt's lease runs. `lease` must outlast the holder's longest run
        (the function timeout plus a margin): a live holder must never be taken over."""
        token = uuid.uuid4().hex
        row = {
            **self._row(pk, sk, data, now, keep),
            "state": {"S": HELD},
            "holder": {"S": token},
            "lease_until": {"N": str(_millis(now + lease))},
        }
        for _ in range(3):
            if self._put(row, "attribute_not_exists(pk)"):
                return Held(pk, sk, now, dict(data), False, token, row)
            found = self._get_row(pk, sk)
            if found is None:
                continue  # given back in between: try again
            if found.get("state", {}).get("S", DONE) != HELD:
                return _done(found)
            until = int(found["lease_until"]["N"])
            if until > _millis(now):
                raise Busy(pk, sk, datetime.fromtimestamp(until / 1000, UTC))
            # The holder died: take over its claim as it recorded it, with a new lease of our own.
            takeover = {**found, "holder": {"S": token}, "lease_until": {"N": str(_millis(now + lease))}}
            if self._put(takeover, "holder = :old", {":old": found["holder"]}):
                held = _done(found)
                return Held(pk, sk, held.at, held.data, True, token, takeover)
        raise Busy(pk, sk, now + lease)

    def note(self, held: Held, data: Mapping[str, Any]) -> None:
        """Add `data` to what the held claim records, before a step that cannot be taken back (a row
        appended somewhere), so an attempt that takes the claim over after a crash knows what this one
        chose. `held` is updated in place, so complete() keeps it. Raises Busy when another attempt has
        taken the claim over meanwhile (this one outlived its lease: it must stop)."""
        merged = {**held.data, **data}
        row = {**held.row, "data": {"S": json.dumps(merged, default=str)}}
        if not self._put(row, "holder = :me", {":me": {"S": held.token}}):
            raise Busy(held.pk, held.sk, datetime.fromtimestamp(int(row["lease_until"]["N"]) / 1000, UTC))
        held.data.update(data)
        held.row["data"] = row["data"]

    def remember(self, held: Held, data: Mapping[str, Any]) -> None:
        """Add `data` to what the claim records once it completes (a result for later deliveries to
        read): nothing is written now, complete() writes it with the claim's one last write."""
        held.data.update(data)
        held.row["data"] = {"S": json.dumps(held.data, default=str)}

    def complete(self, held: Held) -> None:
        """The work is done: the claim now says so for good. If our lease ran out and another attempt
        took over, it does the same work and completes it: nothing to do here."""
        row = {k: v for k, v in held.row.items() if k not in ("holder", "lease_until")}
        self._put({**row, "state": {"S": DONE}}, "holder = :me", {":me": {"S": held.token}})

    def release(self, held: Held) -> None:
        """The work failed: end the lease now, keeping what the claim recorded, so the next attempt
        takes it over at once and finishes that same work. (Deleting the claim instead would let the
        next attempt start afresh with a new time: a write that went through before the failure, or
        one whose answer was lost on the way back, would then be written twice.) Nothing happens if
        another attempt has taken it over meanwhile."""
        self._put({**held.row, "lease_until": {"N": "0"}}, "holder = :me", {":me": {"S": held.token}})

    @contextmanager
    def holding(self, held: Held) -> Iterator[Held]:
        """Run the claimed work in the block: completed when it ends, released if it raises. (A process
        that dies inside does neither: its lease runs out and a retry takes over.)"""
        try:
            yield held
        except Exception:
            try:
                self.release(held)
            except ClientError as exc:  # the lease runs out instead; the work's own error matters more
                log.warning("could not release the claim %s %s: %s", held.pk, held.sk, exc)
            raise
        self.complete(held)

    def get(self, pk: str, sk: str) -> Done | None:
        """What was done (or stored with `put`); None when nothing is, or while it is only held."""
        found = self._get_row(pk, sk)
        if not found or found.get("state", {}).get("S", DONE) != DONE:
            return None
        return _done(found)

    def put(
        self, pk: str, sk: str, data: Mapping[str, Any], now: datetime, keep: timedelta = DEFAULT_KEEP
    ) -> None:
        """Store a value unconditionally (pending records such as proposals, a used link)."""
        self.client.put_item(TableName=self.table, Item=self._row(pk, sk, data, now, keep))

    def reserve(
        self, pk: str, sk: str, data: Mapping[str, Any], now: datetime, keep: timedelta = DEFAULT_KEEP
    ) -> Done:
        """Store `data` under the key only if nothing is stored there yet (a conditional put), and return
        what is stored: ours when this call came first, else the first caller's. For a name that must be
        given out once however many callers pick it at the same moment (a new row's id). Calling again
        with the same data finds it there: the caller can tell the reservation is its own."""
        row = self._row(pk, sk, data, now, keep)
        for _ in range(3):
            if self._put(row, "attribute_not_exists(pk)"):
                return _done(row)
            found = self._get_row(pk, sk)
            if found is not None:
                return _done(found)
            # Forgotten (or expired) in between: try again.
        raise Busy(pk, sk, now)

    def rows(self, pk: str) -> list[tuple[str, Done]]:
        """(sk, what was recorded) of every row under `pk`, by sk (a Query, paged): pending work that
        a scheduled job picks up again after a crash."""
        found: list[tuple[str, Done]] = []
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        while True:
            page = self.client.query(**params)
            for row in page.get("Items", []):
                if row.get("state", {}).get("S", DONE) == DONE:  # a held claim is not done yet
                    found.append((row["sk"]["S"], _done(row)))
            if not page.get("LastEvaluatedKey"):
                return found
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def forget(self, pk: str, sk: str) -> None:
        """Delete a stored value (pending work that is finished). Never for a claim: a claim is
        released, so its record survives for the attempt that takes it over."""
        self.client.delete_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}})

    # -- plumbing ---------------------------------------------------------------------------------

    def _row(
        self, pk: str, sk: str, data: Mapping[str, Any], now: datetime, keep: timedelta
    ) -> dict[str, Any]:
        return {
            "pk": {"S": pk},
            "sk": {"S": sk},
            "at": {"S": now.astimezone(UTC).isoformat()},
            "data": {"S": json.dumps(dict(data), default=str)},
            "expires_at": {"N": str(int((now + keep).timestamp()))},
        }

    def _put(self, row: dict[str, Any], condition: str, values: dict[str, Any] | None = None) -> bool:
        params: dict[str, Any] = {"TableName": self.table, "Item": row, "ConditionExpression": condition}
        if values:
            params["ExpressionAttributeValues"] = values
        try:
            self.client.put_item(**params)
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def _get_row(self, pk: str, sk: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        return found


def _done(row: Mapping[str, Any]) -> Done:
    return Done(datetime.fromisoformat(row["at"]["S"]), json.loads(row["data"]["S"]))


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
