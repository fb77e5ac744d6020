"""The chain store on moto: round trips, paginated loads, claims, archive (DESIGN.md §4, §6, §9)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from ew.chain import ACK_ONLY, ESCALATE, FIRST_ALERT, REMINDER, RENEW, SNOOZE, Ack, Ping
from ew.store import DEFAULT_LEASE, LEGACY_STALE_CLAIM, ChainStore, ClaimHeld, PingRecord
from ew_local.tables import table_names

_TABLES = table_names()  # as template.yaml names them
PINGS, ACKS, ARCHIVE = _TABLES["EW_PINGS_TABLE"], _TABLES["EW_ACK_TABLE"], _TABLES["EW_ARCHIVE_TABLE"]
HEADS = _TABLES.get("EW_HEADS_TABLE") or "ew-chain-heads"  # named after the pings table
EXPIRY = date(2026, 6, 30)
NEXT_EXPIRY = date(2027, 6, 30)
NOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SEND_AT = datetime(2026, 5, 4, 8, 0, tzinfo=timezone(timedelta(hours=-4)))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def client(dynamodb):
    return dynamodb  # tests/conftest.py: the tables template.yaml declares


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


@pytest.fixture
def store(client, clock) -> ChainStore:
    return ChainStore(client, PINGS, ACKS, ARCHIVE, clock=clock)


def ping(index: int = 0, item_id: str = "IT-1", expiry: date = EXPIRY, move: str = FIRST_ALERT) -> Ping:
    return Ping(item_id, expiry, index, move, date(2026, 5, 4) + timedelta(days=14 * index), "U0OWNER01")


def all_rows(client, table: str) -> list[dict[str, Any]]:
    return client.scan(TableName=table)["Items"]


# -- load -----------------------------------------------------------------------------------------


def test_pings_and_acks_round_trip_through_load(store):
    pings = [ping(0), ping(1, move=REMINDER), ping(0, item_id="IT-2", move=ESCALATE)]
    for p in pings:
        assert store.claim(p, SEND_AT, "slack", "sending")
    acks = [
        Ack("IT-1", EXPIRY, ACK_ONLY, datetime(2026, 5, 5, 9, 30, 1, 123456, tzinfo=UTC), by="U0OWNER01"),
        Ack(
            "IT-1",
            EXPIRY,
            SNOOZE,
            # not UTC: stored as UTC, read back as the same instant
            datetime(2026, 5, 6, 9, 0, tzinfo=timezone(timedelta(hours=2))),
            by="owner@example.com",
            snooze_until=date(2026, 5, 20),
        ),
        Ack("IT-2", EXPIRY, RENEW, datetime(2026, 5, 7, tzinfo=UTC), new_expiry=NEXT_EXPIRY),
    ]
    for a in acks:
        store.record_ack(a)

    loaded_pings, loaded_acks = store.load()

    assert loaded_pings == sorted(pings, key=lambda p: (p.item_id, p.chain_index))
    assert loaded_acks == acks
    assert all(a.at.tzinfo is not None for a in loaded_acks)


def test_ping_rows_use_the_contract_attribute_names(store, client):
    store.claim(ping(2, move=REMINDER), SEND_AT, "email", "scheduled")
    [row] = all_rows(client, PINGS)
    assert row == {
        "item_id": {"S": "IT-1"},
        "chain_index": {"N": "2"},
        "cycle_expiry": {"S": "2026-06-30"},
        "move": {"S": "reminder"},
        "recipient": {"S": "U0OWNER01"},
        "ping_date": {"S": "2026-06-01"},
        "send_at": {"S": "2026-05-04T08:00:00-04:00"},
        "dispatched_via": {"S": "email"},
        "status": {"S": "scheduled"},
        "claimed_at": {"S": "2026-05-01T12:00:00.000000+00:00"},
    }


def test_load_reads_thousands_of_pings_in_a_handful_of_scan_pages(client):
    for start in range(0, 2500, 25):
        client.batch_write_item(
            RequestItems={
                PINGS: [
                    {
                        "PutRequest": {
                            "Item": {
                                "item_id": {"S": f"IT-{n:05d}"},
                                "chain_index": {"N": "0"},
                                "cycle_expiry": {"S": "2026-06-30"},
                                "move": {"S": "first_alert"},
                                "recipient": {"S": "U0OWNER01"},
                                "ping_date": {"S": "2026-05-04"},
                                "send_at": {"S": "2026-05-04T08:00:00+00:00"},
                                "dispatched_via": {"S": "slack"},
                                "status": {"S": "sent"},
                                "claimed_at": {"S": "2026-05-04T08:00:00.000000+00:00"},
                            }
                        }
                    }
                    for n in range(start, start + 25)
                ]
            }
        )
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    store = ChainStore(client, PINGS, ACKS, ARCHIVE, scan_page_size=1000)

    pings, acks = store.load()

    assert len(pings) == 2500
    assert len({p.item_id for p in pings}) == 2500  # every page read, none twice
    assert acks == []
    assert set(calls) == {"Scan"}  # no Query or GetItem per item
    assert 4 <= len(calls) <= 6  # 3 pages of pings (1000 a page) + 1 of acks, far below 2,500
    assert store.request_count == len(calls)

    calls.clear()
    ChainStore(client, PINGS, ACKS, ARCHIVE).load()  # DynamoDB's own page size (1 MB)
    assert set(calls) == {"Scan"} and len(calls) <= 5


# -- claims ---------------------------------------------------------------------------------------


def test_a_claim_of_a_sent_ping_is_a_duplicate(store):
    assert store.claim(ping(), SEND_AT, "slack", "sending") is True
    store.mark_sent("IT-1", 0, "slack", "D1/1.2")
    assert store.claim(ping(), SEND_AT, "email", "sending") is False
    record = store.get("IT-1", 0)
    assert record is not None and (record.channel, record.status) == ("slack", "sent")  # unchanged


def test_a_claim_held_by_a_live_send_makes_the_duplicate_fail_retryably(store, clock):
    assert store.claim(ping(), SEND_AT, "slack", "sending", lease=timedelta(seconds=40))
    clock.now += timedelta(seconds=40)  # the holder may still be running (the lease is inclusive)
    with pytest.raises(ClaimHeld) as held:
        store.claim(ping(), SEND_AT, "email", "sending")
    assert str(held.value) == (
        "IT-1: ping 0 (first_alert) is being sent by another attempt, whose claim holds until "
        "2026-05-01T12:00:40+00:00: retry after that"
    )
    record = store.get("IT-1", 0)
    assert record is not None and record.channel == "slack"  # the duplicate changed nothing


def test_a_sending_claim_whose_lease_passed_is_taken_over(store, clock):
    # Lambda's first retry comes about a minute after a killed attempt: well after its lease.
    assert store.claim(ping(), SEND_AT, "slack", "sending", lease=timedelta(seconds=40))
    clock.now = NOON + timedelta(minutes=1)
    assert store.claim(ping(), SEND_AT, "email", "sending", lease=timedelta(seconds=40)) is True
    record = store.get("IT-1", 0)
    assert record is not None
    assert (record.channel, record.claimed_at) == ("email", clock.now)
    assert record.lease_until == clock.now + timedelta(seconds=40)


def test_the_default_lease_ends_before_lambdas_first_retry():
    assert timedelta(minutes=1) > DEFAULT_LEASE


def test_a_sending_row_without_a_lease_is_taken_over_after_the_legacy_window(store, client, clock):
    store.claim(ping(), SEND_AT, "slack", "sending")
    client.update_item(
        TableName=PINGS,
        Key={"item_id": {"S": "IT-1"}, "chain_index": {"N": "0"}},
        UpdateExpression="REMOVE lease_until",
    )  # written before claims carried a lease
    clock.now = NOON + LEGACY_STALE_CLAIM
    with pytest.raises(ClaimHeld):
        store.claim(ping(), SEND_AT, "email", "sending")
    clock.now += timedelta(seconds=1)
    assert store.claim(ping(), SEND_AT, "email", "sending") is True


def test_a_scheduled_claim_also_blocks_a_duplicate(store, clock):
    assert store.claim(ping(), SEND_AT, "slack", "scheduled")
    clock.now += timedelta(days=3)  # a scheduled ping is waiting, not stale
    assert store.claim(ping(), SEND_AT, "slack", "sending") is False


def test_a_sent_ping_is_never_taken_over(store, clock):
    store.claim(ping(), SEND_AT, "slack", "sending")
    store.mark_sent("IT-1", 0, "slack", "C1:1.2")
    clock.now += timedelta(hours=1)
    assert store.claim(ping(), SEND_AT, "slack", "sending") is False


def test_claim_rejects_unknown_status_and_channel(store):
    with pytest.raises(ValueError, match="claim starts as"):
        store.claim(ping(), SEND_AT, "slack", "sent")
    with pytest.raises(ValueError, match="unknown channel"):
        store.claim(ping(), SEND_AT, "sms", "sending")


def test_a_claim_of_a_new_cycle_archives_the_unarchived_old_ping_at_that_index(store, client):
    old = ping(0, expiry=EXPIRY)
    store.claim(old, SEND_AT, "slack", "sending")
    store.mark_sent("IT-1", 0, "slack", None)
    new = ping(0, expiry=NEXT_EXPIRY)

    assert store.claim(new, SEND_AT, "slack", "sending") is True

    record = store.get("IT-1", 0)
    assert record is not None and record.ping == new
    [archived] = all_rows(client, ARCHIVE)
    assert archived["chain_key"] == {"S": "2026-06-30#0000"}
    assert archived["status"] == {"S": "sent"}


def test_a_late_duplicate_of_an_old_cycle_does_not_displace_the_new_cycle(store, client):
    store.claim(ping(0, expiry=NEXT_EXPIRY), SEND_AT, "slack", "sending")
    assert store.claim(ping(0, expiry=EXPIRY), SEND_AT, "slack", "sending") is False
    record = store.get("IT-1", 0)
    assert record is not None and record.ping.cycle_expiry == NEXT_EXPIRY
    assert all_rows(client, ARCHIVE) == []


# -- deferred sends -------------------------------------------------------------------------------


def test_start_deferred_succeeds_only_once(store, clock):
    store.claim(ping(), SEND_AT, "slack", "scheduled")
    clock.now += timedelta(days=2)
    assert store.start_deferred("IT-1", 0) is True
    record = store.get("IT-1", 0)
    assert record is not None
    assert (record.status, record.claimed_at, record.lease_until) == (
        "sending",
        clock.now,
        clock.now + DEFAULT_LEASE,
    )
    store.mark_sent("IT-1", 0, "slack", "D1/1.2")
    assert store.start_deferred("IT-1", 0) is False


def test_start_deferred_is_false_for_a_missing_or_sent_ping(store, client):
    assert store.start_deferred("IT-1", 0) is False
    assert all_rows(client, PINGS) == []  # nothing was created
    store.claim(ping(), SEND_AT, "slack", "scheduled")
    store.start_deferred("IT-1", 0)
    store.mark_sent("IT-1", 0, "slack", "C1:1.2")
    assert store.start_deferred("IT-1", 0) is False


def test_start_deferred_fails_retryably_while_a_live_send_holds_it_then_takes_it_over(store, clock):
    store.claim(ping(), SEND_AT, "slack", "scheduled")
    assert store.start_deferred("IT-1", 0, EXPIRY, lease=timedelta(seconds=40))
    clock.now += timedelta(seconds=30)
    with pytest.raises(ClaimHeld, match=r"^IT-1: ping 0 .* holds until 2026-05-01T12:00:40"):
        store.start_deferred("IT-1", 0, EXPIRY)
    clock.now = NOON + timedelta(minutes=1)  # Lambda's first retry: the killed holder's lease is over
    assert store.start_deferred("IT-1", 0, EXPIRY) is True


def test_start_deferred_for_another_cycle_is_false(store):
    store.claim(ping(0, expiry=NEXT_EXPIRY), SEND_AT, "slack", "scheduled")
    assert store.start_deferred("IT-1", 0, cycle_expiry=EXPIRY) is False
    assert store.start_deferred("IT-1", 0, cycle_expiry=NEXT_EXPIRY) is True


def test_return_to_scheduled_lets_the_retry_start_again(store):
    store.claim(ping(), SEND_AT, "slack", "scheduled")
    assert store.start_deferred("IT-1", 0)
    store.return_to_scheduled("IT-1", 0)
    record = store.get("IT-1", 0)
    assert record is not None and record.status == "scheduled"
    assert store.start_deferred("IT-1", 0) is True


def test_return_to_scheduled_leaves_a_sent_ping_sent(store):
    store.claim(ping(), SEND_AT, "slack", "sending")
    store.mark_sent("IT-1", 0, "email", "ses-1")
    store.return_to_scheduled("IT-1", 0)
    record = store.get("IT-1", 0)
    assert record is not None and record.status == "sent"


# -- release and mark_sent ------------------------------------------------------------------------


def test_release_then_claim_again_succeeds(store):
    store.claim(ping(), SEND_AT, "slack", "sending")
    store.release("IT-1", 0)
    assert store.get("IT-1", 0) is None
    assert store.claim(ping(), SEND_AT, "email", "sending") is True


def test_release_does_not_delete_a_sent_or_scheduled_ping(store):
    store.claim(ping(0), SEND_AT, "slack", "sending")
    store.mark_sent("IT-1", 0, "slack", "C1:1.2")
    store.claim(ping(1, move=REMINDER), SEND_AT, "slack", "scheduled")
    store.release("IT-1", 0)
    store.release("IT-1", 1)
    store.release("IT-1", 7)  # missing: nothing to do, no error
    sent, scheduled = store.get("IT-1", 0), store.get("IT-1", 1)
    assert sent is not None and sent.status == "sent"
    assert scheduled is not None and scheduled.status == "scheduled"


def test_mark_sent_records_status_channel_and_reference(store):
    store.claim(ping(), SEND_AT, "slack", "sending")
    store.mark_sent("IT-1", 0, "email", "ses-0100")  # Slack was down: email went out
    assert store.get("IT-1", 0) == PingRecord(
        ping=ping(), status="sent", send_at=SEND_AT, channel="email", claimed_at=NOON, message_ref="ses-0100"
    )


def test_mark_sent_without_reference_and_on_a_missing_row(store, client):
    store.claim(ping(), SEND_AT, "slack", "sending")
    store.mark_sent("IT-1", 0, "slack", None)
    record = store.get("IT-1", 0)
    assert record is not None and (record.status, record.message_ref) == ("sent", None)
    store.mark_sent("IT-9", 3, "slack", "C1:1.2")  # archived meanwhile: not recreated half-empty
    assert store.get("IT-9", 3) is None
    assert len(all_rows(client, PINGS)) == 1


# -- chain_pings ----------------------------------------------------------------------------------


def test_chain_pings_returns_one_items_rows_in_index_order(store):
    for index in (2, 0, 1):
        store.claim(ping(index), SEND_AT, "slack", "sending")
    store.claim(ping(0, item_id="IT-2"), SEND_AT, "slack", "sending")
    records = store.chain_pings("IT-1")
    assert [r.ping for r in records] == [ping(0), ping(1), ping(2)]
    assert store.chain_pings("IT-404") == []


# -- archive --------------------------------------------------------------------------------------


def test_archive_moves_rows_and_is_idempotent(store, client, clock):
    old = [ping(i, item_id=f"IT-{n}") for n in range(20) for i in range(3)]  # 60 rows: 3 batches
    for p in old:
        store.claim(p, SEND_AT, "slack", "sending")
    store.mark_sent("IT-0", 1, "email", "ses-7")
    keep = ping(0, item_id="IT-KEEP")
    store.claim(keep, SEND_AT, "slack", "scheduled")
    clock.now = NOON + timedelta(days=60)

    assert store.archive(old) == 60

    pings, _ = store.load()
    assert pings == [keep]
    archived = {(r["item_id"]["S"], r["chain_key"]["S"]): r for r in all_rows(client, ARCHIVE)}
    assert len(archived) == 60
    row = archived[("IT-0", "2026-06-30#0001")]
    assert row["status"] == {"S": "sent"}
    assert row["dispatched_via"] == {"S": "email"}
    assert row["message_ref"] == {"S": "ses-7"}
    assert row["chain_index"] == {"N": "1"}
    assert row["ping_date"] == {"S": "2026-05-18"}
    assert row["send_at"] == {"S": "2026-05-04T08:00:00-04:00"}
    assert row["archived_at"] == {"S": "2026-06-30T12:00:00.000000+00:00"}

    assert store.archive(old) == 0  # again: harmless
    assert len(all_rows(client, ARCHIVE)) == 60
    assert store.load()[0] == [keep]


def test_archive_skips_a_key_that_now_holds_another_cycle(store, client):
    store.claim(ping(0, expiry=NEXT_EXPIRY), SEND_AT, "slack", "sending")
    assert store.archive([ping(0, expiry=EXPIRY)]) == 0
    assert store.get("IT-1", 0) is not None
    assert all_rows(client, ARCHIVE) == []


class Throttling:
    """A client whose first BatchWriteItem per table leaves half the requests unprocessed."""

    def __init__(self, client) -> None:
        self._client = client
        self.throttled: set[str] = set()
        self.batch_writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, RequestItems):
        self.batch_writes += 1
        [(table, requests)] = RequestItems.items()
        if table in self.throttled or len(requests) < 2:
            return self._client.batch_write_item(RequestItems=RequestItems)
        self.throttled.add(table)
        half = len(requests) // 2
        self._client.batch_write_item(RequestItems={table: requests[:half]})
        return {"UnprocessedItems": {table: requests[half:]}}


def renew(store: ChainStore, expiry: date = EXPIRY) -> None:
    store.record_ack(Ack("IT-1", expiry, RENEW, NOON, by="U0OWNER01", new_expiry=NEXT_EXPIRY), chain_index=0)


def test_a_cycle_closed_by_a_renew_is_never_claimed_again(store, client):
    store.claim(ping(0), SEND_AT, "slack", "sending")
    store.mark_sent("IT-1", 0, "slack", "D1/1.2")
    renew(store)
    store.archive([ping(0)])  # what the Renew click does

    # A late duplicate of the morning's event finds the key free, but the cycle is closed.
    assert store.claim(ping(0), SEND_AT, "slack", "sending") is False
    assert store.claim(ping(1, move=REMINDER), SEND_AT, "slack", "scheduled") is False
    assert all_rows(client, PINGS) == []  # no old-cycle row recreated
    # The next cycle is open.
    assert store.claim(ping(0, expiry=NEXT_EXPIRY), SEND_AT, "slack", "sending") is True


def test_a_snooze_or_ack_only_does_not_close_the_cycle(store):
    store.record_ack(Ack("IT-1", EXPIRY, SNOOZE, NOON, snooze_until=date(2026, 5, 20)))
    store.record_ack(Ack("IT-1", EXPIRY, ACK_ONLY, NOON + timedelta(seconds=1)))
    store.record_ack(Ack("IT-1", date(2025, 6, 30), RENEW, NOON, new_expiry=EXPIRY))  # the previous cycle's
    assert store.claim(ping(0), SEND_AT, "slack", "sending") is True


def test_a_deferred_ping_of_a_renewed_cycle_is_not_started(store, client):
    store.claim(ping(1, move=REMINDER), SEND_AT, "slack", "scheduled")
    renew(store)  # ... and the Renew's archive never ran (it died)
    assert store.start_deferred("IT-1", 1, EXPIRY) is False
    assert all_rows(client, PINGS) == []
    [archived] = all_rows(client, ARCHIVE)
    assert archived["chain_key"] == {"S": "2026-06-30#0001"}


def test_archive_retries_unprocessed_items(client):
    throttling = Throttling(client)
    store = ChainStore(throttling, PINGS, ACKS, ARCHIVE, clock=Clock(NOON))
    pings = [ping(i) for i in range(10)]
    for p in pings:
        store.claim(p, SEND_AT, "slack", "sending")

    assert store.archive(pings) == 10

    assert throttling.throttled == {PINGS, ARCHIVE}
    assert throttling.batch_writes == 4  # one retry per table
    assert len(all_rows(client, ARCHIVE)) == 10
    assert all_rows(client, PINGS) == []


# -- acks -----------------------------------------------------------------------------------------


def test_record_ack_then_load_returns_it_with_the_extra_columns_stored(store, client):
    renew = Ack(
        "IT-1",
        EXPIRY,
        RENEW,
        datetime(2026, 5, 9, 14, 3, 7, 42, tzinfo=UTC),
        by="U0OWNER01",
        new_expiry=NEXT_EXPIRY,
    )
    store.record_ack(renew, chain_index=2, old_expiry=EXPIRY)

    assert store.load()[1] == [renew]
    [row] = all_rows(client, ACKS)
    assert row == {
        "item_id": {"S": "IT-1"},
        "ack_date": {"S": "2026-05-09T14:03:07.000042+00:00"},
        "action": {"S": "renew"},
        "by_user": {"S": "U0OWNER01"},
        "cycle_expiry": {"S": "2026-06-30"},
        "chain_index": {"N": "2"},
        "old_expiry": {"S": "2026-06-30"},
        "new_expiry": {"S": "2027-06-30"},
    }


def test_the_same_ack_twice_is_stored_once_but_two_acks_in_one_microsecond_both_are(store):
    at = datetime(2026, 5, 9, 14, 0, tzinfo=UTC)
    first = Ack("IT-1", EXPIRY, ACK_ONLY, at, by="U0OWNER01")
    store.record_ack(first)
    store.record_ack(first)
    second = Ack("IT-1", EXPIRY, SNOOZE, at, by="U0OTHER01", snooze_until=date(2026, 5, 30))
    store.record_ack(second)

    acks = store.load()[1]
    assert acks == [
        first,
        Ack(
            "IT-1",
            EXPIRY,
            SNOOZE,
            at + timedelta(microseconds=1),
            by="U0OTHER01",
            snooze_until=date(2026, 5, 30),
        ),
    ]


def test_record_ack_needs_an_aware_time(store):
    with pytest.raises(ValueError, match="timezone-aware"):
        store.record_ack(Ack("IT-1", EXPIRY, ACK_ONLY, datetime(2026, 5, 9, 14, 0)))


def test_an_archived_ping_is_found_by_its_reference_and_nothing_else_is(store):
    sent = ping(0)
    assert store.claim(sent, SEND_AT, "slack", "sending")
    assert not store.archived("IT-1", EXPIRY, 0)  # still in ew-pings, not archived
    assert store.archive([sent]) == 1
    assert store.archived("IT-1", EXPIRY, 0)
    assert not store.archived("IT-1", EXPIRY, 1)  # no such ping
    assert not store.archived("IT-1", NEXT_EXPIRY, 0)  # another cycle
