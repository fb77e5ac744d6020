"""The tick decides on chain heads (one per item and cycle) exactly as it would on every ping and ack
stored: the same moves, the same chains archived (DESIGN.md §6)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from ew.chain import (
    ACK_ONLY,
    ACTIONS,
    ESCALATE,
    FIRST_ALERT,
    MOVES,
    RENEW,
    SNOOZE,
    Ack,
    Chain,
    Ping,
    PingRef,
    current_item,
    decide,
    essential_acks,
    essential_pings,
    heads_from,
    split_chain,
)
from ew.items import Item
from ew.rules import ChainRules, Rules
from ew.tick_plan import plan_tick

ADMIN = "ops@example.com"
RULES = Rules(
    default=ChainRules(first_alert_days=60, reminder_days=14, escalate_days=7, escalate_to=None),
    categories={
        "insurance": ChainRules(90, 7, 14, "U0ESCALATE"),
        "certificate": ChainRules(21, 3, 5, None),
    },
    closed=frozenset(),
)
TODAY = date(2026, 11, 23)


def _history(rng: random.Random, item_id: str, cycle: date) -> tuple[list[Ping], list[Ack]]:
    """Any history a cycle can have: moves in any order with gaps in the indexes (released claims),
    clicks of every kind at any time, several renews."""
    start = TODAY - timedelta(days=rng.randint(0, 120))
    pings = []
    index = 0
    for _ in range(rng.randint(0, 9)):
        index += rng.choice((1, 1, 1, 2))
        sent = start + timedelta(days=rng.randint(0, 130))
        pings.append(Ping(item_id, cycle, index - 1, rng.choice(MOVES), sent, "U0OWNER01"))
    acks = []
    at = datetime.combine(start, datetime.min.time(), UTC)
    for _ in range(rng.randint(0, 5)):
        at += timedelta(hours=rng.randint(1, 24 * 20), microseconds=rng.randint(0, 999))
        action = rng.choice(ACTIONS)
        snooze = (
            start + timedelta(days=rng.randint(0, 150)) if action == SNOOZE and rng.random() < 0.9 else None
        )
        new = (
            cycle + timedelta(days=rng.choice((365, 730))) if action == RENEW and rng.random() < 0.9 else None
        )
        acks.append(Ack(item_id, cycle, action, at, "U0OWNER01", snooze_until=snooze, new_expiry=new))
    return pings, acks


def _items_and_history(seed: int, count: int) -> tuple[list[Item], list[Ping], list[Ack]]:
    rng = random.Random(seed)
    items, pings, acks = [], [], []
    for n in range(count):
        expiry = TODAY + timedelta(days=rng.randint(-60, 120))
        items.append(
            Item(
                item_id=f"IT-{n}",
                item="Thing",
                expiry_date=expiry,
                owner="U0OWNER01",
                row=n + 2,
                category=rng.choice(("", "insurance", "certificate", "Insurance")),
                notice_date=expiry - timedelta(days=30) if rng.random() < 0.2 else None,
                first_alert_days=rng.choice((None, None, None, 45)),
                status="retired" if rng.random() < 0.05 else "active",
            )
        )
        # the current cycle, sometimes an older one (renewed, or moved by a sheet edit) or a later one
        cycles = [expiry] + [expiry - timedelta(days=365)] * (rng.random() < 0.3)
        cycles += [expiry + timedelta(days=365)] * (rng.random() < 0.1)
        for cycle in cycles:
            cycle_pings, cycle_acks = _history(rng, f"IT-{n}", cycle)
            pings += cycle_pings
            acks += cycle_acks
    return items, pings, acks


def _plan_on_everything(items: list[Item], pings: list[Ping], acks: list[Ack], today: date) -> tuple:
    """What the tick decided before chain heads: every ping and ack of the item, in store order."""
    moves, archive = [], []
    for listed in items:
        item_pings = sorted((p for p in pings if p.item_id == listed.item_id), key=lambda p: p.chain_index)
        item_acks = sorted((a for a in acks if a.item_id == listed.item_id), key=lambda a: a.at)
        item = current_item(listed, item_acks)
        chain, stale = split_chain(item, item_pings, item_acks)
        archive += [PingRef(p.item_id, p.cycle_expiry, p.chain_index) for p in stale]
        move = decide(item, RULES, chain, today, ADMIN)
        if move is not None:
            moves.append((item, move))
    return moves, sorted(archive, key=str)


def test_heads_give_the_same_moves_and_archives_as_every_ping_and_ack() -> None:
    decided = 0
    for seed in range(6):
        items, pings, acks = _items_and_history(seed, 150)
        heads = heads_from(pings, acks)
        for today in (TODAY, TODAY + timedelta(days=3), TODAY + timedelta(days=40)):
            plan = plan_tick(items, RULES, heads, today, ADMIN)
            moves, archive = _plan_on_everything(items, pings, acks, today)
            assert plan.moves == moves
            assert sorted(plan.archive, key=str) == archive
            decided += len(moves)
    assert decided > 200  # the histories do make the policy move, in every way it can
    assert {m.move for _, m in moves} == {FIRST_ALERT, ESCALATE, "reminder"}


def test_the_essential_records_are_few_whatever_the_history() -> None:
    rng = random.Random(7)
    for _ in range(200):
        pings, acks = _history(rng, "IT-1", TODAY)
        kept_pings, kept_acks = essential_pings(pings), essential_acks(acks)
        assert len(kept_pings) <= 2 and len(kept_acks) <= 5
        full = Chain(
            tuple(sorted(pings, key=lambda p: p.chain_index)), tuple(sorted(acks, key=lambda a: a.at))
        )
        for days in range(-20, 60, 3):
            item = Item("IT-1", "Thing", TODAY + timedelta(days=days), "U0OWNER01", 2)
            for today in (TODAY, TODAY + timedelta(days=10)):
                assert decide(item, RULES, Chain(kept_pings, kept_acks), today, ADMIN) == decide(
                    item, RULES, full, today, ADMIN
                )


def test_a_cycle_the_sheet_has_moved_past_is_forgotten_once_archived() -> None:
    listed = Item("IT-1", "Lease", date(2027, 6, 30), "U0OWNER01", 2)
    old = date(2026, 6, 30)
    renew = Ack("IT-1", old, RENEW, datetime(2026, 6, 1, tzinfo=UTC), new_expiry=date(2027, 6, 30))
    ack = Ack("IT-1", date(2027, 6, 30), ACK_ONLY, datetime(2026, 6, 2, tzinfo=UTC))
    # the renewed cycle still has a ping in the pings table: archived first, forgotten next time
    [still, current] = sorted(heads_from([Ping("IT-1", old, 0, FIRST_ALERT, old, "")], [renew, ack]), key=str)
    plan = plan_tick([listed], RULES, [still, current], TODAY, ADMIN)
    assert plan.archive == [PingRef("IT-1", old, 0)] and plan.forget == []
    [archived, current] = sorted(heads_from([], [renew, ack]), key=str)
    plan = plan_tick([listed], RULES, [archived, current], TODAY, ADMIN)
    assert plan.archive == [] and plan.forget == [archived]
    # while the sheet still shows the old expiry, the renew is what moves the item on: kept
    stale_sheet = Item("IT-1", "Lease", old, "U0OWNER01", 2)
    plan = plan_tick([stale_sheet], RULES, [archived, current], TODAY, ADMIN)
    assert plan.forget == [] and plan.moves == []
