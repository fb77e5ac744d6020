"""One tick over the whole registry: the moves of the day, and the chains to archive.

The daily-tick handler and `ew simulate` both call `plan_tick`; it only groups the stored pings and
acks per item and asks the chain policy, so the policy itself stays in `ew.chain`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from ew.chain import Ack, Move, Ping, current_item, decide, split_chain
from ew.items import Item
from ew.rules import Rules


@dataclass
class TickPlan:
    moves: list[tuple[Item, Move]] = field(default_factory=list)
    archive: list[Ping] = field(default_factory=list)  # pings of cycles that a renew has closed


def plan_tick(
    items: Iterable[Item],
    rules: Rules,
    pings: Iterable[Ping],
    acks: Iterable[Ack],
    today: date,
    admin: str | None,
) -> TickPlan:
    pings_by_item: dict[str, list[Ping]] = defaultdict(list)
    for p in pings:
        pings_by_item[p.item_id].append(p)
    acks_by_item: dict[str, list[Ack]] = defaultdict(list)
    for a in acks:
        acks_by_item[a.item_id].append(a)

    plan = TickPlan()
    for listed in items:
        item_acks = acks_by_item.get(listed.item_id, [])
        item = current_item(listed, item_acks)
        chain, stale = split_chain(item, pings_by_item.get(item.item_id, []), item_acks)
        plan.archive.extend(stale)
        move = decide(item, rules, chain, today, admin)
        if move is not None:
            plan.moves.append((item, move))
    return plan
