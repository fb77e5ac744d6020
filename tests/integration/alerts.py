"""Shared by the click and sync tests: the cards a test clicks on (the first alert for ACME-002 sent
through the real dispatch handler, a proposal card in the intake channel), the links of an alert that
went by email, a card as Slack holds it now, and what the admin was told in Slack."""

from __future__ import annotations

import email
import json
import re
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from ew import proposals
from ew_local.cloud import SHEET_ID, SHEET_TAB, LocalCloud
from ew_local.slack_payloads import button_click
from opskit.slack import SlackGateway, make_client
from opskit.state import StateTable

FIRST_ALERT = Path(__file__).resolve().parents[2] / "events" / "dispatch" / "first_alert.json"
ADMIN, ADMIN_SLACK = "ops@acme.example", "U04OPS0001"  # the admin's email and Slack user
INTAKE = "C04INTAKE1"


def alert(cloud: LocalCloud, decided_at: str | None = None) -> dict[str, Any]:
    """Send the first alert for ACME-002 (decided as the event says, or at `decided_at`, an ISO UTC
    time) and return the message as Slack holds it."""
    event = json.loads(FIRST_ALERT.read_text())
    if decided_at:
        event["time"] = decided_at.replace("+00:00", "Z")
        event["detail"]["decided_at"] = decided_at
    assert cloud.dispatch(event)["status"] == "sent"
    return sent_card(cloud, "ACME-002", 0)


def sent_card(cloud: LocalCloud, item_id: str, index: int) -> dict[str, Any]:
    """The card of ping `index` of the item's chain, as Slack holds it, with where it is."""
    record = cloud.store.get(item_id, index)
    assert record is not None and record.message_ref
    channel, ts = record.message_ref.split("/")
    message = current(cloud, {"channel": channel, "ts": ts})
    return {"channel": channel, "ts": ts, "blocks": message["blocks"], "text": message["text"]}


def current(cloud: LocalCloud, message: dict[str, Any]) -> dict[str, Any]:
    """The message at `message`'s channel and ts as Slack holds it now (after any update)."""
    found = cloud.slack.message(message["channel"], message["ts"])
    assert found is not None
    return found


def card_text(cloud: LocalCloud, message: dict[str, Any]) -> str:
    """The text of the card at `message`'s channel and ts now (its last line once a click updated it)."""
    return str(current(cloud, message)["text"])


def proposal_card(
    cloud: LocalCloud, proposal_id: str, fields: dict[str, str], source: str = "email from ana@acme.example"
) -> dict[str, Any]:
    """What intake-parser does: keep the proposal and post its card to the intake channel. Returns the
    card as Slack holds it, with where it is and the proposal's `id`."""
    proposal = proposals.Proposal(proposal_id, fields, source)
    slack = SlackGateway(make_client("xoxb-local-demo-token", base_url=cloud.slack.url))
    ts = proposals.propose(StateTable(cloud.dynamodb, "ew-state"), slack, INTAKE, proposal, datetime.now(UTC))
    posted = current(cloud, {"channel": INTAKE, "ts": ts})
    return {
        "channel": INTAKE,
        "ts": ts,
        "text": posted["text"],
        "blocks": posted["blocks"],
        "id": proposal_id,
    }


def email_links(cloud: LocalCloud) -> dict[str, str]:
    """Slack is down, so the first alert for ACME-002 goes by email; its action links by label."""
    cloud.slack.fail("chat.postMessage", status=500, times=10)
    cloud.dispatch(json.loads(FIRST_ALERT.read_text()))
    [sent] = cloud.sent_emails()
    body = email.message_from_string(sent["raw_data"], policy=policy.default).get_body(("plain",))
    assert body is not None
    return dict(re.findall(r"^(Renew|Snooze|Ack only): (\S+)", body.get_content(), re.M))


def token(url: str) -> str:
    """The signed token of an email link."""
    return parse_qs(urlparse(url).query)["t"][0]


def admin_messages(cloud: LocalCloud) -> list[str]:
    """What the admin was told in Slack (their DMs), oldest first."""
    return [str(m["text"]) for m in cloud.slack.messages() if m["channel"] == ADMIN_SLACK]


def set_expiry(cloud: LocalCloud, item_id: str, expiry: str) -> None:
    """Type a new expiry into the sheet's row of `item_id` (as a renewal typed into the sheet)."""
    header, *rows = cloud.sheet_rows()
    for row in rows:
        if row[0] == item_id:
            row[header.index("expiry_date")] = expiry
    cloud.google.add_sheet(SHEET_ID, SHEET_TAB, [header, *rows])


def card_words(card: dict[str, Any]) -> str:
    """Every word a card shows: its sections' text and its context elements, one block a line."""
    return "\n".join(
        str(b.get("text", {}).get("text", ""))
        + "".join(str(e.get("text", "")) for e in b.get("elements", []))
        for b in card["blocks"]
    )


def approve(cloud: LocalCloud, card: dict[str, Any], by: str) -> None:
    """`by` taps Approve on a proposal card in the intake channel."""
    message = {"channel": INTAKE, "ts": card["ts"], "text": card["text"], "blocks": card["blocks"]}
    cloud.slack_click(button_click(message, "proposal_approve", by))
