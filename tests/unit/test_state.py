"""Claims as leases on the state table (DESIGN.md §9): a live holder blocks a duplicate, a failed or
dead holder never blocks for good, and whoever takes a claim over finishes the work it recorded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from ew_local.tables import table_names
from opskit.state import Busy, Done, Held, StateTable

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest.fixture
def state(dynamodb: object) -> Iterator[StateTable]:
    yield StateTable(boto3.client("dynamodb"), table_names()["EW_STATE_TABLE"])


def test_the_first_claim_holds_and_a_duplicate_waits_while_the_holder_may_be_alive(state: StateTable) -> None:
    held = state.claim("act#A", "0#ack_only", {"by": "U1"}, NOW, lease=LEASE)
    assert isinstance(held, Held) and not held.taken_over
    with pytest.raises(Busy):
        state.claim("act#A", "0#ack_only", {"by": "U2"}, NOW + LEASE - timedelta(seconds=1), lease=LEASE)
    assert state.get("act#A", "0#ack_only") is None  # held is not done


def test_a_completed_claim_is_done_for_good(state: StateTable) -> None:
    held = state.claim("act#A", "0#ack_only", {"by": "U1"}, NOW, lease=LEASE)
    assert isinstance(held, Held)
    state.complete(held)
    later = state.claim("act#A", "0#ack_only", {"by": "U2"}, NOW + timedelta(days=3), lease=LEASE)
    assert later == Done(NOW, {"by": "U1"})
    assert state.get("act#A", "0#ack_only") == Done(NOW, {"by": "U1"})


def test_a_released_claim_is_taken_over_at_once_with_what_it_recorded(state: StateTable) -> None:
    held = state.claim("act#A", "renew", {"by": "U1", "value": "2027-12-15"}, NOW, lease=LEASE)
    assert isinstance(held, Held)
    state.release(held)
    again = state.claim(
        "act#A", "renew", {"by": "U2", "value": "2028-01-31"}, NOW + timedelta(seconds=2), lease=LEASE
    )
    # The same work, at the same time: writes keyed by that time are written once.
    assert isinstance(again, Held) and again.taken_over
    assert (again.at, again.data) == (NOW, {"by": "U1", "value": "2027-12-15"})


def test_a_dead_holder_is_taken_over_once_its_lease_has_run_out(state: StateTable) -> None:
    dead = state.claim("act#A", "0#snooze", {"by": "U1"}, NOW, lease=LEASE)  # never completed
    assert isinstance(dead, Held)
    first = state.claim("act#A", "0#snooze", {"by": "U1"}, NOW + LEASE + timedelta(seconds=1), lease=LEASE)
    assert isinstance(first, Held) and first.taken_over and first.at == NOW
    # Only one attempt takes it over: the next one finds the new lease.
    with pytest.raises(Busy):
        state.claim("act#A", "0#snooze", {"by": "U1"}, NOW + LEASE + timedelta(seconds=2), lease=LEASE)
    # The dead holder, waking up late, can neither complete nor release what is no longer its own.
    state.release(dead)
    state.complete(dead)
    with pytest.raises(Busy):
        state.claim("act#A", "0#snooze", {"by": "U1"}, NOW + LEASE + timedelta(seconds=3), lease=LEASE)
    state.complete(first)
    assert state.get("act#A", "0#snooze") == Done(NOW, {"by": "U1"})


def test_holding_completes_on_success_and_releases_on_failure(state: StateTable) -> None:
    held = state.claim("k", "s", {"n": 1}, NOW, lease=LEASE)
    assert isinstance(held, Held)
    with pytest.raises(RuntimeError), state.holding(held):
        raise RuntimeError("the ack table is down")
    retry = state.claim("k", "s", {"n": 2}, NOW + timedelta(seconds=1), lease=LEASE)
    assert isinstance(retry, Held) and retry.data == {"n": 1}
    with state.holding(retry):
        pass
    assert state.get("k", "s") == Done(NOW, {"n": 1})


def test_a_crash_inside_holding_leaves_the_lease_to_run_out(state: StateTable) -> None:
    class Killed(BaseException):
        """What a timeout or an out-of-memory kill looks like from inside: nothing runs after it."""

    held = state.claim("k", "s", {}, NOW, lease=LEASE)
    assert isinstance(held, Held)
    with pytest.raises(Killed), state.holding(held):
        raise Killed
    with pytest.raises(Busy):
        state.claim("k", "s", {}, NOW + timedelta(seconds=5), lease=LEASE)
    assert isinstance(state.claim("k", "s", {}, NOW + LEASE + timedelta(seconds=1), lease=LEASE), Held)


def test_rows_from_before_leases_read_as_done(state: StateTable) -> None:
    state.put("link#abc", "used", {"a": "renew"}, NOW)
    assert state.claim("link#abc", "used", {}, NOW, lease=LEASE) == Done(NOW, {"a": "renew"})


def test_a_note_made_while_holding_is_what_a_takeover_sees_and_what_completes(state: StateTable) -> None:
    held = state.claim("append#p1", "row", {"by": "U1"}, NOW, lease=LEASE)
    assert isinstance(held, Held)
    state.note(held, {"item_id": "ACME-021"})  # chosen before the append, which cannot be taken back
    # The holder dies; the retry after its lease takes over what it chose, and completes it.
    later = NOW + LEASE + timedelta(seconds=1)
    retry = state.claim("append#p1", "row", {"by": "U2"}, later, lease=LEASE)
    assert isinstance(retry, Held) and retry.taken_over
    assert retry.data == {"by": "U1", "item_id": "ACME-021"}
    # The dead holder cannot note over the attempt that took over.
    with pytest.raises(Busy):
        state.note(held, {"item_id": "ACME-022"})
    state.note(retry, {"row": 22})
    state.complete(retry)
    assert state.get("append#p1", "row") == Done(NOW, {"by": "U1", "item_id": "ACME-021", "row": 22})


def test_what_is_remembered_is_written_by_the_completion_only(state: StateTable) -> None:
    held = state.claim("mail", "m1", {"object": "s3://raw/m1"}, NOW, lease=LEASE)
    assert isinstance(held, Held)
    state.remember(held, {"outcome": "proposed", "ts": "1.2"})
    # Nothing written yet: an attempt taking over a dead holder would find only what the claim recorded.
    raw = state.client.get_item(TableName=state.table, Key={"pk": {"S": "mail"}, "sk": {"S": "m1"}})
    assert raw["Item"]["data"]["S"] == '{"object": "s3://raw/m1"}'
    state.complete(held)
    assert state.get("mail", "m1") == Done(NOW, {"object": "s3://raw/m1", "outcome": "proposed", "ts": "1.2"})


def test_a_reservation_is_kept_by_the_first_and_found_again_by_it(state: StateTable) -> None:
    first = state.reserve("name#ACME-004", "append", {"by": "p-1"}, NOW)
    assert first.data == {"by": "p-1"}
    assert state.reserve("name#ACME-004", "append", {"by": "p-2"}, NOW + LEASE).data == {"by": "p-1"}
    assert state.reserve("name#ACME-004", "append", {"by": "p-1"}, NOW + LEASE) == first
    assert state.reserve("name#ACME-005", "append", {"by": "p-2"}, NOW).data == {"by": "p-2"}
