"""Proposed registry rows (DESIGN.md §3, §8): forwarded contracts and `#expires` calendar events become
a Slack card with Approve / Edit / Discard; approval appends the row to the sheet with a new item_id.

The producers (intake-parser, calendar-sync) call `propose`; ack-handler calls the rest. Each decision
acts once, however often it is clicked.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    DatePickerElement,
    InputBlock,
    PlainTextInputElement,
    PlainTextObject,
)
from slack_sdk.models.views import View

from ew.items import is_email, load_registry
from opskit.dates import human_date
from opskit.slack import SlackGateway, buttons_block, context, escape_mrkdwn, text_section
from opskit.state import StateTable
from opskit.table import write_csv

APPROVE, EDIT, DISCARD = "proposal_approve", "proposal_edit", "proposal_discard"
ACTIONS = (APPROVE, EDIT, DISCARD)
BLOCK = "ew_proposal"
# The fields a person checks before a row goes into the sheet, in the order the card shows them.
FIELDS = ("item", "category", "expiry_date", "notice_date", "owner", "renewal_term", "notes", "renewal_link")
_LABELS = {
    "item": "What expires",
    "category": "Category",
    "expiry_date": "Expiry date",
    "notice_date": "Notice date (cancel by)",
    "owner": "Owner (Slack user ID or email)",
    "renewal_term": "Renewal term",
    "notes": "Notes",
    "renewal_link": "Renewal link",
}
_DATES = ("expiry_date", "notice_date")
_REQUIRED = ("item", "expiry_date", "owner")


@dataclass(frozen=True)
class Proposal:
    proposal_id: str
    fields: Mapping[str, str]
    source: str  # where it came from, in words: "email from ana@… «Lease renewal»"
    warnings: tuple[str, ...] = field(default=())  # e.g. "could not read the attachment"

    def to_data(self) -> dict[str, Any]:
        return {"fields": dict(self.fields), "source": self.source, "warnings": list(self.warnings)}

    @classmethod
    def from_data(cls, proposal_id: str, data: Mapping[str, Any]) -> Proposal:
        return cls(proposal_id, dict(data["fields"]), data["source"], tuple(data.get("warnings", ())))


def new_id() -> str:
    """A fresh proposal id (a forwarded document; calendar events derive theirs from the event)."""
    return uuid.uuid4().hex[:12]


# -- the card and the edit modal ---------------------------------------------------------------------


def card(proposal: Proposal) -> tuple[str, list[dict[str, Any]]]:
    text = f"Proposed new item: *{escape_mrkdwn(proposal.fields.get('item') or 'unnamed')}*"
    shown = [name for name in FIELDS if proposal.fields.get(name)]
    lines = [f"*{_LABELS[name]}:* {escape_mrkdwn(proposal.fields[name])}" for name in shown]
    blocks = [text_section(text), text_section("\n".join(lines) or "_no fields could be read_")]
    notes = [
        f"From {escape_mrkdwn(proposal.source)}",
        *(f":warning: {escape_mrkdwn(w)}" for w in proposal.warnings),
    ]
    blocks.append(context(" · ".join(notes)))
    buttons = [(APPROVE, "Approve", proposal.proposal_id), (EDIT, "Edit", proposal.proposal_id),
               (DISCARD, "Discard", proposal.proposal_id)]  # fmt: skip
    blocks.append(buttons_block(BLOCK, buttons, {APPROVE: "primary", DISCARD: "danger"}))
    return text, blocks


def edit_modal(proposal: Proposal, channel: str, ts: str) -> dict[str, Any]:
    blocks: list[InputBlock] = []
    for name in FIELDS:
        value = proposal.fields.get(name, "")
        element: DatePickerElement | PlainTextInputElement
        if name in _DATES:
            element = DatePickerElement(action_id=name, initial_date=value or None)
        else:
            element = PlainTextInputElement(
                action_id=name, initial_value=value or None, multiline=name == "notes"
            )
        label = PlainTextObject(text=_LABELS[name])
        blocks.append(InputBlock(block_id=name, label=label, element=element, optional=name not in _REQUIRED))
    metadata = json.dumps({"id": proposal.proposal_id, "channel": channel, "ts": ts})
    view = View(
        type="modal",
        callback_id=EDIT,
        title=PlainTextObject(text="Edit proposal"),
        submit=PlainTextObject(text="Approve"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=blocks,
    )
    return view.to_dict()


def edited_fields(state_values: Mapping[str, Any]) -> dict[str, str]:
    fields = {}
    for name in FIELDS:
        block = state_values.get(name)
        element = block.get(name) if isinstance(block, dict) else None
        if not isinstance(element, dict):
            continue
        value = element.get("selected_date") if name in _DATES else element.get("value")
        if isinstance(value, str) and value.strip():
            fields[name] = value.strip()
    return fields


def check_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """Problems by field, in the registry's own words (the same checks as a sheet row)."""
    row = {"item_id": "PROPOSED", **{name: fields.get(name, "") for name in FIELDS}}
    registry = load_registry(write_csv(list(row), [row]), "proposal.csv")
    problems: dict[str, str] = {}
    for problem in registry.problems:
        column = problem.where.rpartition("column ")[2]
        problems.setdefault(column if column in FIELDS else "item", problem.message)
    return problems


def next_item_id(existing: list[str]) -> str:
    """The next id in the sheet's own numbering (ACME-019 → ACME-020), else a new readable one."""
    numbered = [m for m in (re.fullmatch(r"(.*?)(\d+)", i) for i in existing) if m]
    if numbered:
        prefixes: dict[str, list[re.Match[str]]] = {}
        for match in numbered:
            prefixes.setdefault(match.group(1), []).append(match)
        prefix, matches = max(prefixes.items(), key=lambda kv: len(kv[1]))
        width = max(len(m.group(2)) for m in matches)
        candidate = f"{prefix}{max(int(m.group(2)) for m in matches) + 1:0{width}d}"
        if candidate not in existing:
            return candidate
    return f"EW-{uuid.uuid4().hex[:6].upper()}"


def decision_line(decision: str, by: str, on: datetime, detail: str = "") -> str:
    who = f"<@{by}>" if by and not is_email(by) else (by or "someone")
    verb = {APPROVE: "Approved", EDIT: "Edited and approved", DISCARD: "Discarded"}[decision]
    return f"{verb} by {who} on {human_date(on.date())}{detail}."


# -- the stored proposal -----------------------------------------------------------------------------


def store_key(proposal_id: str) -> str:
    return f"proposal#{proposal_id}"


def propose(state: StateTable, slack: SlackGateway, channel: str, proposal: Proposal, now: datetime) -> str:
    """Keep the proposal and post its card; returns the message ts (producers call this)."""
    state.put(store_key(proposal.proposal_id), "pending", proposal.to_data(), now)
    text, blocks = card(proposal)
    return slack.post(channel, text, blocks).ts


def load(state: StateTable, proposal_id: str) -> Proposal | None:
    stored = state.get(store_key(proposal_id), "pending")
    return Proposal.from_data(proposal_id, stored.data) if stored else None
