"""Shared by the click tests: the first alert for ACME-002, sent through the real dispatch handler."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ew_local.cloud import LocalCloud

FIRST_ALERT = Path(__file__).resolve().parents[2] / "events" / "dispatch" / "first_alert.json"


def alert(cloud: LocalCloud, decided_at: str | None = None) -> dict[str, Any]:
    """Send the first alert for ACME-002 (decided as the event says, or at `decided_at`, an ISO UTC
    time) and return the message as Slack holds it."""
    event = json.loads(FIRST_ALERT.read_text())
    if decided_at:
        event["time"] = decided_at.replace("+00:00", "Z")
        event["detail"]["decided_at"] = decided_at
    assert cloud.dispatch(event)["status"] == "sent"
    record = cloud.store.get("ACME-002", 0)
    assert record is not None and record.message_ref
    channel, ts = record.message_ref.split("/")
    message = cloud.slack.message(channel, ts)
    assert message is not None
    return {"channel": channel, "ts": ts, "blocks": message["blocks"], "text": message["text"]}
