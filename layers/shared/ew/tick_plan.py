"""One tick over the whole registry: the moves of the day, and the chains to archive.

The daily-tick handler and `ew simulate` both go through `plan_tick`; it only groups the chain heads
per item and asks the chain policy, so the policy itself stays in `ew.chain`. Its cost grows with the
items and the heads (one per item and cycle), never with how many pings or clicks a chain has had.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from ew.chain import RENEW, Chain, CycleHead, Move, PingRef, current_item, decide, policy_for
from ew.items import Item
from ew.rules import ChainRules, Rules

_EMPTY = Chain()


@dataclass
class TickPlan:
    moves: list[tuple[Item, Move]] = field(default_factory=list)
    archive: list[PingRef] = field(default_factory=list)  # pings of cycles a renew or the sheet closed
    # Heads no decision needs any more: their cycle is over, archived, and the sheet has moved past it
    # (so a recorded renew need not be trusted over the sheet any longer).
    forget: list[CycleHead] = field(default_factory=list)


def plan_tick(
    items: Iterable[Item],
    rules: Rules,
    heads: Iterable[CycleHead],
    today: date,
    admin: str | None,
) -> TickPlan:
    heads_by_item: defaultdict[str, list[CycleHead]] = defaultdict(list)
    for head in heads:
        heads_by_item[head.item_id].append(head)
    policies: dict[tuple[str, int | None], ChainRules] = {}  # once per category, not once per item

    plan = TickPlan()
    for listed in items:
        item_heads = heads_by_item.get(listed.item_id)
        item, chain = listed, _EMPTY
        if item_heads:
            renews = sorted((a for h in item_heads for a in h.acks if a.action == RENEW), key=lambda a: a.at)
            if renews:
                item = current_item(listed, renews)
            for head in item_heads:
                if head.cycle_expiry == item.expiry_date:
                    chain = head.chain
                elif head.indexes:
                    plan.archive += [PingRef(head.item_id, head.cycle_expiry, i) for i in head.indexes]
                elif head.cycle_expiry < listed.expiry_date:
                    plan.forget.append(head)
        key = (item.category, item.first_alert_days)
        policy = policies.get(key)
        if policy is None:
            policy = policies[key] = policy_for(item, rules)
        move = decide(item, rules, chain, today, admin, policy=policy)
        if move is not None:
            plan.moves.append((item, move))
    return plan
