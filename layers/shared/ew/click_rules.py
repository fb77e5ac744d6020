"""What a click means (DESIGN.md §8): pure functions over plain data.

The modals, their validation, the line that replaces the buttons once someone has answered, and the
audit's before/after. The ack-handler service does the I/O around them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from ew.chain import ACK_ONLY, RENEW, SNOOZE, PingRef
from ew.items import is_email
from opskit.dates import human_date
from opskit.slack import escape_mrkdwn

DATE_BLOCK = "date"
DATE_ACTION = "picked"
SNOOZE_DEFAULT = timedelta(days=7)
METADATA_LIMIT = 3000
# A validly signed click on a ping the watcher has no record of (the item was deleted, the reference is
# garbled): said on the card, the modal or the page, and nothing is recorded.
UNKNOWN_PING = ":warning: This alert is out of date: the watcher has no record of it. Nothing was recorded."


@dataclass(frozen=True)
class ModalContext:
    """What a modal must remember until it is submitted (Slack hands it back as private_metadata):
    the ping, the message to update, and that message's blocks so the update keeps its content."""

    ref: PingRef
    channel: str
    ts: str
    label: str
    blocks: tuple[dict[str, Any], ...] = ()

    def dumps(self) -> str:
        data = {"ref": self.ref.to_value(), "channel": self.channel, "ts": self.ts, "label": self.label[:200]}
        with_blocks = json.dumps({**data, "blocks": [b for b in self.blocks if b.get("type") != "actions"]})
        # private_metadata holds 3,000 characters: a long card is updated with the answer line alone.
        return with_blocks if len(with_blocks) <= METADATA_LIMIT else json.dumps(data)

    @classmethod
    def loads(cls, text: str) -> ModalContext:
        """Raises ValueError (or KeyError, TypeError) for anything `dumps` did not write."""
        data = json.loads(text)
        ref = PingRef.from_value(data["ref"])
        channel, ts, label, blocks = data["channel"], data["ts"], data["label"], data.get("blocks", [])
        if not all(isinstance(v, str) for v in (channel, ts, label)) or not isinstance(blocks, list):
            raise ValueError("not a modal context")
        return cls(ref, channel, ts, label, tuple(b for b in blocks if isinstance(b, dict)))


def date_modal(action: str, context: ModalContext, initial: date) -> dict[str, Any]:
    """The Renew or Snooze modal: one date picker, prefilled."""
    if action == RENEW:
        title, question, submit = "Renew", "New expiry date", "Renew"
        hint = "The date the renewed item next expires."
    else:
        title, question, submit = "Snooze", "Remind me again on", "Snooze"
        hint = "Escalation still happens on time if it is not renewed."
    view = View(
        type="modal",
        callback_id=action,
        title=PlainTextObject(text=title),
        submit=PlainTextObject(text=submit),
        close=PlainTextObject(text="Cancel"),
        private_metadata=context.dumps(),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=f"*{escape_mrkdwn(context.label)}*")),
            InputBlock(
                block_id=DATE_BLOCK,
                label=PlainTextObject(text=question),
                hint=PlainTextObject(text=hint),
                element=DatePickerElement(action_id=DATE_ACTION, initial_date=initial.isoformat()),
            ),
        ],
    )
    return view.to_dict()


def picked_date(state_values: dict[str, Any]) -> str | None:
    """The date picker's value from a view_submission's `view.state.values`."""
    block = state_values.get(DATE_BLOCK)
    picked = block.get(DATE_ACTION) if isinstance(block, dict) else None
    value = picked.get("selected_date") if isinstance(picked, dict) else None
    return value if isinstance(value, str) and value else None


def check_date(action: str, text: str | None, today: date) -> tuple[date | None, str | None]:
    """(the date, or None and the error shown under the picker)."""
    if not text:
        return None, "Pick a date."
    try:
        picked = date.fromisoformat(text)
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "…"  # typed text, shown back: kept short
        return None, f"{shown} is not a date."
    if picked <= today:
        what = "The new expiry date" if action == RENEW else "The snooze date"
        return None, f"{what} must be after today ({human_date(today)})."
    return picked, None


def snooze_default(today: date) -> date:
    return today + SNOOZE_DEFAULT


def answer_line(action: str, by: str, on: date, value: date | None) -> str:
    """The line that replaces the buttons: who did what, so nobody else acts on a stale message."""
    who = f"<@{by}>" if by and not is_email(by) else (by or "someone")
    if action == RENEW and value:
        return f":white_check_mark: Renewed by {who} on {human_date(on)}: new expiry {human_date(value)}."
    if action == SNOOZE and value:
        return f":zzz: Snoozed by {who} on {human_date(on)} until {human_date(value)}."
    if action == ACK_ONLY:
        return f":ok_hand: Acknowledged by {who} on {human_date(on)}."
    return f"Answered by {who} on {human_date(on)}."


def answered_blocks(blocks: list[dict[str, Any]], line: str) -> list[dict[str, Any]]:
    """The original message with its buttons gone and the answer added."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    return [*kept, ContextBlock(elements=[MarkdownTextObject(text=line)]).to_dict()]


def audit_change(
    action: str, cycle_expiry: date, value: date | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after) for the audit trail."""
    if action == RENEW:
        return {"expiry_date": cycle_expiry}, {"expiry_date": value}
    if action == SNOOZE:
        return {"snooze_until": None}, {"snooze_until": value}
    return {"acknowledged": False}, {"acknowledged": True}
