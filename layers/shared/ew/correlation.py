"""Correlation ids for the log lines of one piece of work (Powertools Logger `correlation_id`): the
ping a dispatch delivers, whatever path (the bus, a retry, a deferral schedule) brought it."""

from __future__ import annotations

from typing import Any


def ping_id(event: dict[str, Any]) -> str | None:
    """ "ACME-002#2026-12-15#1" (item, cycle, chain index) for a move event or a deferral's payload; the
    EventBridge event id when the move cannot be read (the handler then reports why)."""
    try:
        move = event["detail"]["move"]
        return f"{move['item_id']}#{move['cycle_expiry']}#{int(move['chain_index'])}"
    except (KeyError, TypeError, ValueError):
        value = event.get("id") if isinstance(event, dict) else None
        return str(value) if value else None
