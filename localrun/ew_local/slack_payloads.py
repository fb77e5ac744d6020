"""Slack interactivity payloads as Slack sends them, built from the real-shaped fixtures in events/:
a click on one of a message's buttons, and a modal's submission. Used by the demo and the tests.

The fixtures are whole Function URL events (payload format 2.0), as ack-handler receives them: Slack's
form body `payload=<JSON>`, base64-encoded by the Function URL, signed with the local runner's signing
secret at the request's own timestamp."""

from __future__ import annotations

import base64
import copy
import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

EVENTS = Path(__file__).resolve().parents[2] / "events" / "ack_handler"


def slack_payload(event: dict[str, Any]) -> dict[str, Any]:
    """The interactivity payload inside a Function URL event from Slack."""
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    payload: dict[str, Any] = json.loads(parse_qs(raw.decode("utf-8"))["payload"][0])
    return payload


@cache
def _fixture(name: str) -> dict[str, Any]:
    return slack_payload(json.loads((EVENTS / name).read_text()))


def button_click(message: dict[str, Any], action_id: str, user: str) -> dict[str, Any]:
    """A block_actions payload for `user` clicking `action_id` on `message` ({channel, ts, text, blocks})."""
    payload = copy.deepcopy(_fixture("block_actions.json"))
    block, clicked = next(
        (block, element)
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == action_id
    )
    payload["user"]["id"] = user
    payload["container"].update(channel_id=message["channel"], message_ts=message["ts"])
    payload["channel"]["id"] = message["channel"]
    payload["message"].update(ts=message["ts"], blocks=message["blocks"], text=message["text"])
    payload["actions"][0].update(
        action_id=action_id,
        block_id=block["block_id"],
        value=clicked["value"],
        text=clicked["text"],
    )
    return payload


def modal_submission(view: dict[str, Any], picked: str | None, user: str) -> dict[str, Any]:
    """A view_submission payload for a date modal submitted with `picked` (YYYY-MM-DD)."""
    payload = copy.deepcopy(_fixture("view_submission.json"))
    payload["user"]["id"] = user
    payload["view"].update(callback_id=view["callback_id"], private_metadata=view["private_metadata"])
    payload["view"]["state"]["values"]["date"]["picked"]["selected_date"] = picked
    return payload


def view_submission(view: dict[str, Any], values: dict[str, Any], user: str) -> dict[str, Any]:
    """A view_submission payload for any modal, with `values` as Slack's `view.state.values`."""
    payload = copy.deepcopy(_fixture("view_submission.json"))
    payload["user"]["id"] = user
    payload["view"].update(
        id=view.get("id", payload["view"]["id"]),
        callback_id=view.get("callback_id", ""),
        private_metadata=view.get("private_metadata", ""),
        title=view.get("title", payload["view"]["title"]),
        blocks=view.get("blocks", []),
        state={"values": values},
    )
    return payload
