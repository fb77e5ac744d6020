"""Chain heads on moto: the tick's one-row-per-cycle view stays the pings and ack tables' own, through
every write path and every crash between two writes (DESIGN.md §6, §9)."""

from __future__ import annotations

import random
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ew.chain import (
    ACK_ONLY,
    ESCALATE,
    FIRST_ALERT,
    REMINDER,
    RENEW,
    SNOOZE,
    Ack,
    CycleHead,
    Ping,
    heads_from,
)
from ew.items import Item
from ew.rules import ChainRules, Rules
from ew.store import ChainStore, ClaimHeld
from ew.tick_plan import plan_tick

PINGS, ACKS, ARCHIVE, HEADS = "ew-pings", "ew-ack", "ew-pings-archive", "ew-chain-heads"
EXPIRY = date(2026, 6, 30)
NEXT_EXPIRY = date(2027, 6, 30)
NOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SEND_AT = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
RULES = Rules(ChainRules(60, 14, 7, None), {}, frozenset())


@pytest.fixture
def client(dynamodb: Any) -> Any:
    return dynamodb  # tests/conftest.py: every table template.yaml declares, the chain heads included


@pytest.fixture
def store(client: Any) -> ChainStore:
    return ChainStore(client, PINGS, ACKS, ARCHIVE, clock=lambda: NOON)


def ping(index: int, move: str = REMINDER, expiry: date = EXPIRY, item_id: str = "IT-1") -> Ping:
    return Ping(item_id, expiry, index, move, date(2026, 5, 4) + timedelta(days=14 * index), "U0OWNER01")


def derived(store: ChainStore) -> list[CycleHead]:
    """The heads as the pings and ack tables say they must be (no recipient, no clicker: not kept)."""
    pings, acks = store.load()
    return _comparable(heads_from(pings, acks))


def _comparable(heads: list[CycleHead]) -> list[CycleHead]:
    return sorted(
        (
            replace(
                h,
                pings=tuple(replace(p, recipient="") for p in h.pings),
                acks=tuple(replace(a, by="") for a in h.acks),
                version=0,
            )
            for h in heads
            if h.indexes or h.acks
        ),
        key=lambda h: (h.item_id, h.cycle_expiry),
    )


def loaded(store: ChainStore) -> list[CycleHead]:
    return _comparable(store.load_heads())


def test_every_write_path_keeps_the_heads_equal_to_the_tables(client: Any) -> None:
    rng = random.Random(3)
    now = [NOON]
    store = ChainStore(client, PINGS, ACKS, ARCHIVE, clock=lambda: now[0])
    for step in range(150):
        now[0] += timedelta(seconds=rng.choice((1, 5, 60)))  # leases run out now and then: takeovers
        item_id = f"IT-{rng.randint(1, 4)}"
        expiry = rng.choice((EXPIRY, NEXT_EXPIRY))
        index = rng.randint(0, 5)
        action = rng.random()
        if action < 0.35:
            status = rng.choice(("sending", "scheduled"))
            move = rng.choice((FIRST_ALERT, REMINDER, ESCALATE))
            with suppress(ClaimHeld):  # a live send holds it: the retry's business
                store.claim(ping(index, move, expiry, item_id), SEND_AT, "slack", status)
        elif action < 0.45:
            store.mark_sent(item_id, index, "email", "ses-1")
        elif action < 0.6:
            store.release(item_id, index, rng.choice(("sending", "scheduled")))
        elif action < 0.85:
            kind = rng.choice((ACK_ONLY, SNOOZE, RENEW))
            store.record_ack(
                Ack(
                    item_id,
                    expiry,
                    kind,
                    now[0],
                    snooze_until=date(2026, 6, 1) if kind == SNOOZE else None,
                    new_expiry=expiry + timedelta(days=365) if kind == RENEW else None,
                )
            )
        else:
            store.archive([ping(i, expiry=expiry, item_id=item_id) for i in range(6)])
        assert loaded(store) == derived(store), f"step {step}"


def test_the_tick_reads_one_row_per_cycle_however_long_the_chain(store: ChainStore, client: Any) -> None:
    assert store.load_heads() == []  # the first tick of a new stack marks the heads table built
    for index in range(30):
        store.claim(ping(index, REMINDER if index % 3 == 2 else ESCALATE), SEND_AT, "slack", "sending")
        store.mark_sent("IT-1", index, "slack", "D1/1.2")
    for minute in range(10):
        store.record_ack(Ack("IT-1", EXPIRY, ACK_ONLY, NOON + timedelta(minutes=minute)))
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))

    [head] = store.load_heads()

    assert calls == ["Scan"]
    assert head.indexes == tuple(range(30))
    assert [p.chain_index for p in head.pings] == [28, 29]  # the latest escalation, the latest ping
    assert len(head.acks) == 1 and head.acks[0].at == NOON + timedelta(minutes=9)


def test_a_release_takes_the_ping_out_of_the_head_and_a_new_claim_puts_it_back(store: ChainStore) -> None:
    store.claim(ping(0, FIRST_ALERT), SEND_AT, "slack", "sending")
    store.claim(ping(1), SEND_AT, "slack", "sending")
    store.release("IT-1", 1)
    [head] = store.load_heads()
    assert head.indexes == (0,) and head.chain.next_index == 1  # the tick decides index 1 again
    assert store.claim(ping(1), SEND_AT, "email", "scheduled") is True
    [head] = store.load_heads()
    assert head.indexes == (0, 1)


def test_an_archive_that_dies_before_its_head_update_is_finished_by_the_next_tick(
    store: ChainStore, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = [ping(0, FIRST_ALERT), ping(1)]
    for p in old:
        store.claim(p, SEND_AT, "slack", "sending")
        store.mark_sent(p.item_id, p.chain_index, "slack", "D1/1.2")
    listed = Item("IT-1", "Lease", NEXT_EXPIRY, "U0OWNER01", 2)  # the sheet moved the expiry on

    def dies(*_: Any) -> None:
        raise TimeoutError("killed at the function's timeout")

    with monkeypatch.context() as patched:
        patched.setattr(store, "_drop_from_heads", dies)
        with pytest.raises(TimeoutError):
            store.archive(old)
    assert store.load()[0] == []  # the rows went to the archive ...
    [head] = store.load_heads()
    assert head.indexes == (0, 1)  # ... but the head still shows them

    plan = plan_tick([listed], RULES, [head], date(2026, 6, 1), None)
    assert {(r.cycle_expiry, r.chain_index) for r in plan.archive} == {(EXPIRY, 0), (EXPIRY, 1)}
    assert store.archive(plan.archive) == 0  # nothing left to move, and no row made again
    [head] = store.load_heads()
    assert head.indexes == ()
    plan = plan_tick([listed], RULES, [head], date(2026, 6, 2), None)
    assert plan.archive == [] and store.forget_heads(plan.forget) == 1
    assert store.load_heads() == []
    assert len(client.scan(TableName=ARCHIVE)["Items"]) == 2


def test_a_head_is_forgotten_only_if_nothing_wrote_to_it_since_the_tick_read_it(store: ChainStore) -> None:
    store.record_ack(Ack("IT-1", EXPIRY, RENEW, NOON, new_expiry=NEXT_EXPIRY))
    [head] = store.load_heads()
    store.record_ack(Ack("IT-1", EXPIRY, ACK_ONLY, NOON + timedelta(seconds=1)))  # a late click meanwhile
    assert store.forget_heads([head]) == 0
    [head] = store.load_heads()
    assert store.forget_heads([head]) == 1
    assert store.load_heads() == []
    assert len(store.load()[1]) == 2  # the clicks themselves stay in ew-ack


def test_a_ping_stored_without_its_head_is_repaired_by_the_duplicate_claim(
    store: ChainStore, client: Any
) -> None:
    store.load_heads()  # built
    store.claim(ping(0, FIRST_ALERT), SEND_AT, "slack", "sending")
    store.mark_sent("IT-1", 0, "slack", "D1/1.2")
    client.delete_item(TableName=HEADS, Key={"item_id": {"S": "IT-1"}, "cycle_expiry": {"S": "2026-06-30"}})
    assert store.load_heads() == []  # the tick would decide index 0 again ...

    assert store.claim(ping(0, FIRST_ALERT), SEND_AT, "slack", "sending") is False  # ... sends nothing

    [head] = store.load_heads()
    assert head.indexes == (0,)


def test_the_first_read_after_an_upgrade_builds_the_heads_from_the_tables(
    store: ChainStore, client: Any
) -> None:
    for index in range(3):
        store.claim(ping(index, ESCALATE), SEND_AT, "slack", "sending")
    store.record_ack(Ack("IT-1", EXPIRY, SNOOZE, NOON, snooze_until=date(2026, 6, 1)))
    store.claim(ping(0, FIRST_ALERT, item_id="IT-2"), SEND_AT, "email", "scheduled")
    expected = loaded(store)
    for row in client.scan(TableName=HEADS)["Items"]:  # a table as a version without heads left it
        client.delete_item(
            TableName=HEADS, Key={"item_id": row["item_id"], "cycle_expiry": row["cycle_expiry"]}
        )

    assert loaded(store) == expected == derived(store)
    assert len(client.scan(TableName=HEADS)["Items"]) == 3  # two heads and the "built" marker


def test_a_lapsed_lease_of_another_cycle_is_archived_not_overwritten(store: ChainStore, client: Any) -> None:
    late = ChainStore(client, PINGS, ACKS, ARCHIVE, clock=lambda: NOON + timedelta(hours=1))
    store.claim(ping(0, FIRST_ALERT), SEND_AT, "slack", "sending")  # its sender died mid-send

    assert late.claim(ping(0, FIRST_ALERT, expiry=NEXT_EXPIRY), SEND_AT, "slack", "sending") is True

    assert [h.cycle_expiry for h in late.load_heads() if h.indexes] == [NEXT_EXPIRY]
    [archived] = client.scan(TableName=ARCHIVE)["Items"]
    assert archived["cycle_expiry"] == {"S": "2026-06-30"}
