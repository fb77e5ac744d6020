"""The chain policy (DESIGN.md §6): which move, if any, an item gets on a tick date.

Pure functions over plain data. The daily tick (through `ew.tick_plan`) calls `decide`; nothing else in
the code base decides a move: dispatch only delivers the moves the tick emitted.

A chain is the sequence of pings for one expiry cycle. Every ping and ack records the expiry date of
the cycle it belongs to (`cycle_expiry`), so the current chain is simply the records whose cycle is
the item's current expiry; records of an earlier cycle are archived by whoever notices them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime

from ew.items import Item
from ew.rules import ChainRules, Rules

FIRST_ALERT = "first_alert"
REMINDER = "reminder"
ESCALATE = "escalate"
MOVES = (FIRST_ALERT, REMINDER, ESCALATE)

ACK_ONLY = "ack_only"
SNOOZE = "snooze"
RENEW = "renew"
ACTIONS = (ACK_ONLY, SNOOZE, RENEW)
# A ping reference read back from a click names an item and a chain index that are DynamoDB keys: an id
# too long to be a key (2,048 bytes at most, with the prefixes the stores add) or an index no chain
# reaches cannot be one of ours.
MAX_ID_BYTES = 1024
MAX_CHAIN_INDEX = 9999  # the archive's chain_key writes it in four digits


@dataclass(frozen=True)
class Ping:
    item_id: str
    cycle_expiry: date
    chain_index: int
    move: str
    sent_on: date  # the delivery date: a ping deferred to Monday counts from Monday
    recipient: str


@dataclass(frozen=True)
class PingRef:
    """Names one ping: what a button or an email link carries, so a click answers exactly that ping."""

    item_id: str
    cycle_expiry: date
    chain_index: int

    def to_value(self, **extra: str) -> str:
        # Compact: a button value is limited to 2,000 characters and item ids are the user's.
        data = {"i": self.item_id, "c": self.cycle_expiry.isoformat(), "n": self.chain_index}
        return json.dumps({**data, **extra})

    @classmethod
    def from_value(cls, value: str) -> PingRef:
        """Raises ValueError (or KeyError, TypeError) for anything that is not such a reference."""
        data = json.loads(value)
        item_id, index = data["i"], data["n"]
        if not isinstance(item_id, str) or not item_id or len(item_id.encode()) > MAX_ID_BYTES:
            raise ValueError("not a ping reference")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= MAX_CHAIN_INDEX:
            raise ValueError("not a ping reference")
        return cls(item_id, date.fromisoformat(data["c"]), index)

    @classmethod
    def of(cls, move: Move) -> PingRef:
        return cls(move.item_id, move.cycle_expiry, move.chain_index)


@dataclass(frozen=True)
class Ack:
    item_id: str
    cycle_expiry: date
    action: str
    at: datetime  # when the click happened; orders acks against pings
    by: str = ""
    snooze_until: date | None = None
    new_expiry: date | None = None


@dataclass(frozen=True)
class Chain:
    """The pings and acks of the item's current cycle, oldest first."""

    pings: tuple[Ping, ...] = ()
    acks: tuple[Ack, ...] = ()

    @property
    def next_index(self) -> int:
        return max((p.chain_index for p in self.pings), default=-1) + 1


@dataclass(frozen=True)
class Move:
    item_id: str
    move: str
    recipient: str
    days_left: int
    anchor: date
    cycle_expiry: date
    chain_index: int
    escalated_from: str | None = None


@dataclass(frozen=True)
class CycleHead:
    """One item's cycle as the tick needs it, whatever its history (`ew.store` keeps one per item and
    cycle): `decide` answers on `chain` exactly as it would on all of the cycle's pings and acks (see
    `essential_pings` and `essential_acks`), `indexes` names every ping of the cycle still stored (to
    archive them once the cycle is over), and `version` is the store's count of writes to it.

    Pings read from the store carry no recipient and acks no clicker: the policy reads neither."""

    item_id: str
    cycle_expiry: date
    pings: tuple[Ping, ...] = ()
    acks: tuple[Ack, ...] = ()
    indexes: tuple[int, ...] = ()
    version: int = 0

    @property
    def chain(self) -> Chain:
        return Chain(self.pings, self.acks)


def essential_pings(pings: Iterable[Ping]) -> tuple[Ping, ...]:
    """The pings `decide` reads, by index: the latest (the next index, the last sent date) and the
    latest escalation (the escalation cadence)."""
    ordered = sorted(pings, key=lambda p: p.chain_index)
    if not ordered:
        return ()
    escalations = [p for p in ordered if p.move == ESCALATE]
    if escalations and escalations[-1] is not ordered[-1]:
        return (escalations[-1], ordered[-1])
    return (ordered[-1],)


def essential_acks(acks: Iterable[Ack]) -> tuple[Ack, ...]:
    """The acks `decide` and `current_item` read, by time: the latest of all (the answer after the
    latest escalation), the latest ack-only, the latest snooze with an end date, the latest renew and
    the latest renew with a new expiry. Every rule of §6 looks only at those."""
    ordered = sorted(acks, key=lambda a: a.at)
    if not ordered:
        return ()
    latest: dict[str, Ack] = {"": ordered[-1]}
    for a in ordered:
        if a.action == ACK_ONLY:
            latest[ACK_ONLY] = a
        elif a.action == SNOOZE and a.snooze_until:
            latest[SNOOZE] = a
        elif a.action == RENEW:
            latest[RENEW] = a
            if a.new_expiry:
                latest["renew_to"] = a
    kept = {id(a): a for a in latest.values()}
    return tuple(sorted(kept.values(), key=lambda a: a.at))


def heads_from(pings: Iterable[Ping], acks: Iterable[Ack]) -> list[CycleHead]:
    """The heads of these pings and acks, one per item and cycle (the tick's view of full history)."""
    by_cycle: defaultdict[tuple[str, date], tuple[list[Ping], list[Ack]]] = defaultdict(lambda: ([], []))
    for p in pings:
        by_cycle[(p.item_id, p.cycle_expiry)][0].append(p)
    for a in acks:
        by_cycle[(a.item_id, a.cycle_expiry)][1].append(a)
    return [
        CycleHead(
            item_id,
            cycle,
            essential_pings(cycle_pings),
            essential_acks(cycle_acks),
            tuple(sorted(p.chain_index for p in cycle_pings)),
        )
        for (item_id, cycle), (cycle_pings, cycle_acks) in by_cycle.items()
    ]


def current_item(item: Item, acks: Iterable[Ack]) -> Item:
    """The item as the tick must see it: a renew recorded by a click is trusted over a sheet mirror
    that has not caught up yet (the CSV still shows the old expiry)."""
    renews = {a.cycle_expiry: a for a in acks if a.action == RENEW and a.new_expiry}
    seen: set[date] = set()
    while item.expiry_date in renews and item.expiry_date not in seen:
        seen.add(item.expiry_date)
        new_expiry = renews[item.expiry_date].new_expiry
        assert new_expiry is not None
        if new_expiry <= item.expiry_date:
            break
        shift = new_expiry - item.expiry_date
        # A notice date keeps its distance to the expiry: the cancel-by deadline moves with it.
        notice = item.notice_date + shift if item.notice_date else None
        item = replace(item, expiry_date=new_expiry, notice_date=notice)
    return item


def split_chain(item: Item, pings: Iterable[Ping], acks: Iterable[Ack]) -> tuple[Chain, list[Ping]]:
    """(the current chain, pings of earlier cycles that belong in the archive)."""
    current = [p for p in pings if p.cycle_expiry == item.expiry_date]
    stale = [p for p in pings if p.cycle_expiry != item.expiry_date]
    chain_acks = [a for a in acks if a.cycle_expiry == item.expiry_date]
    chain = Chain(
        pings=tuple(sorted(current, key=lambda p: p.chain_index)),
        acks=tuple(sorted(chain_acks, key=lambda a: a.at)),
    )
    return chain, stale


def decide(
    item: Item,
    rules: Rules,
    chain: Chain,
    today: date,
    admin: str | None,
    *,
    policy: ChainRules | None = None,
) -> Move | None:
    """One move per item per tick at most: the first rule of DESIGN.md §6 that applies. `policy` is
    `policy_for(item, rules)` when the caller has it already (the tick works it out once per category)."""
    if item.status == "retired" or any(a.action == RENEW for a in chain.acks):
        return None
    if policy is None:
        policy = policy_for(item, rules)
    days_left = (item.anchor - today).days

    def move(kind: str, recipient: str, escalated_from: str | None = None) -> Move:
        return Move(
            item_id=item.item_id,
            move=kind,
            recipient=recipient,
            days_left=days_left,
            anchor=item.anchor,
            cycle_expiry=item.expiry_date,
            chain_index=chain.next_index,
            escalated_from=escalated_from,
        )

    if not chain.pings:
        return move(FIRST_ALERT, item.owner) if days_left <= policy.first_alert_days else None

    if days_left <= policy.escalate_days:
        escalation_to = policy.escalate_to or admin or item.owner
        if _escalation_due(chain, today, policy):
            return move(ESCALATE, escalation_to, escalated_from=item.owner)
        return None

    last_sent = chain.pings[-1].sent_on
    owner_acked = any(a.action == ACK_ONLY for a in chain.acks)
    if (
        not owner_acked
        and not _snoozed(chain.acks, today)
        and (today - last_sent).days >= policy.reminder_days
    ):
        return move(REMINDER, item.owner)
    return None


def policy_for(item: Item, rules: Rules) -> ChainRules:
    """The item's category rules, with its own first-alert days if the sheet gives them."""
    policy = rules.for_category(item.category)
    if item.first_alert_days is not None:
        policy = replace(policy, first_alert_days=item.first_alert_days)
    return policy


def _escalation_due(chain: Chain, today: date, policy: ChainRules) -> bool:
    escalations = [p for p in chain.pings if p.move == ESCALATE]
    if not escalations:
        # Acks made before any escalation do not stop it: escalation is the safety net for
        # "not renewed", and an ack-only or a snooze is not a renewal.
        return True
    latest = escalations[-1]
    if (today - latest.sent_on).days < policy.reminder_days:
        return False
    answers = [a for a in chain.acks if a.at.date() >= latest.sent_on]
    if answers:
        last = answers[-1]
        if last.action == ACK_ONLY:
            return False
        if last.action == SNOOZE and last.snooze_until and last.snooze_until > today:
            return False
    return True


def _snoozed(acks: Iterable[Ack], today: date) -> bool:
    snoozes = [a for a in acks if a.action == SNOOZE and a.snooze_until]
    return bool(snoozes) and snoozes[-1].snooze_until is not None and snoozes[-1].snooze_until > today
