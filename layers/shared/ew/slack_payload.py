"""Reading a Slack interactivity payload, once its signature is checked. Each reader raises Malformed
(400, one plain line) for a payload that is not shaped as Slack sends it, so the services behind them
never index into a bad shape: ack-handler turns every Malformed into its answer in one place."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import parse_qs

from ew.chain import PingRef
from ew.click_rules import ModalContext
from opskit.http_answer import Malformed
from opskit.payloads import first, json_object, obj, text


def parse(body: bytes) -> dict[str, Any]:
    """The JSON object in the form field `payload`."""
    try:
        fields = parse_qs(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8 text") from None
    if "payload" not in fields:
        raise Malformed("expected a Slack interactivity payload (a payload= form field)")
    if len(fields["payload"]) > 1:  # Slack sends one; which of two to believe is not ours to guess
        raise Malformed("the body has more than one payload field")
    return json_object(fields["payload"][0], "the payload")


def user(payload: dict[str, Any]) -> str:
    return text(obj(payload, "user", "the payload"), "id", "the payload's user")


def action(payload: dict[str, Any]) -> dict[str, Any]:
    """The clicked element of a block_actions payload."""
    return first(payload, "actions", "the block_actions payload")


def trigger(payload: dict[str, Any]) -> str:
    """The trigger_id a modal is opened with."""
    return text(payload, "trigger_id", "the block_actions payload")


def message(payload: dict[str, Any]) -> dict[str, Any]:
    """The clicked message's blocks, as far as they are blocks (a click may come without them)."""
    found = payload.get("message")
    blocks = found.get("blocks") if isinstance(found, dict) else None
    return {"blocks": [b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else []}


def ping_value(clicked: dict[str, Any]) -> tuple[PingRef, str | None, str | None]:
    """(the ping, the card's item label, the Renew default date) from a ping button's value."""
    value = text(clicked, "value", "the button")
    data = json_object(value, "the button value")
    try:
        ref = PingRef.from_value(value)
    except (KeyError, TypeError, ValueError):
        raise Malformed("the button value does not name a ping (item, cycle and index)") from None
    label, default = data.get("x"), data.get("d")
    try:
        renew_default = date.fromisoformat(default).isoformat() if isinstance(default, str) else None
    except ValueError:
        renew_default = None  # only a default: the modal opens with its own
    return ref, label if isinstance(label, str) and label else None, renew_default


def view(payload: dict[str, Any]) -> dict[str, Any]:
    return obj(payload, "view", "the view_submission payload")


def state_values(submitted: dict[str, Any]) -> dict[str, Any]:
    """The submitted inputs (`view.state.values`)."""
    return obj(obj(submitted, "state", "the view"), "values", "the view's state")


def modal_context(submitted: dict[str, Any]) -> ModalContext:
    """What a date modal remembered in its private_metadata."""
    metadata = text(submitted, "private_metadata", "the view")
    try:
        return ModalContext.loads(metadata)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise Malformed("the view's private_metadata is not one this app wrote") from None


def proposal_metadata(submitted: dict[str, Any]) -> tuple[str, str, str]:
    """(proposal id, channel, ts) from the proposal editor's private_metadata."""
    data = json_object(submitted.get("private_metadata"), "the view's private_metadata")
    fields = [data.get(name) for name in ("id", "channel", "ts")]
    if not all(isinstance(f, str) for f in fields) or not _PROPOSAL_ID.fullmatch(str(fields[0])):
        raise Malformed("the view's private_metadata is not one this app wrote")
    return str(fields[0]), str(fields[1]), str(fields[2])


# Proposal ids are ours: a hash or a UUID cut short (ew.proposals, ew.calendar_plan, ew.intake).
_PROPOSAL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def proposal_id(clicked: dict[str, Any]) -> str:
    value = text(clicked, "value", "the button")
    if not _PROPOSAL_ID.fullmatch(value):
        raise Malformed("the button value does not name a proposal")
    return value
