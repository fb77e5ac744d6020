"""What a move says: the placeholder values the voice doc can use."""

from __future__ import annotations

from datetime import date

from ew.chain import Move
from ew.items import Item


def human_date(d: date) -> str:
    # "15 Dec 2026": unambiguous whatever side of the Atlantic the reader is on.
    return f"{d.day} {d:%b %Y}"


def message_values(item: Item, move: Move) -> dict[str, object]:
    return {
        "item": item.item,
        "category": item.category or "uncategorised",
        "expiry_date": human_date(item.expiry_date),
        "days_left": move.days_left,
        "owner": item.owner,
        "notes": item.notes,
        "renewal_link": item.renewal_link,
        "escalated_from": move.escalated_from or "",
    }
