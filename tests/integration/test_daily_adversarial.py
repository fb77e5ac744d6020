"""The daily path tried the way it fails in production: late and replayed events, the sheet moving
under a waiting or late move, odd days (DST changes, holidays, 29 February)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ew_local.cloud import LocalCloud

EVENTS = Path(__file__).resolve().parents[2] / "events" / "dispatch"
LONDON = ZoneInfo("Europe/London")
SETTINGS = {"timezone": "Europe/London", "holidays": "GB-ENG", "admin": "ops@acme.example"}


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def london(day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(datetime.fromisoformat(day).date(), time(hour, minute), LONDON)


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(SETTINGS, slack_users={"ops@acme.example": "U04OPS0001"}) as local:
        yield local


def test_a_move_replayed_from_the_dlq_on_saturday_night_waits_for_monday(cloud: LocalCloud) -> None:
    monday = event("first_alert.json")  # decided Monday 23 Nov 08:00, 22 days before 15 Dec
    replay = cloud.dispatch_async(monday, at=london("2026-11-28", 23, 10))
    assert replay.outcome is not None
    assert (replay.outcome["status"], replay.outcome["reason"]) == ("scheduled", "Saturday")
    assert cloud.slack.messages() == []
    [sent] = cloud.fire_schedules(until=london("2026-11-30", 8))
    assert sent["status"] == "sent"
    [dm] = cloud.slack.messages()
    assert "expires on 15 Dec 2026, in 15 days." in dm["text"]  # counted from the day it went out
    record = cloud.store.get("ACME-002", 0)
    assert record is not None and str(record.ping.sent_on) == "2026-11-30"  # the reminder counts from it


def test_a_move_that_arrives_in_the_evening_waits_for_the_morning(cloud: LocalCloud) -> None:
    # The tick's schedule retried it for hours (or Lambda queued it): it arrives at 20:30, quiet hours.
    late = cloud.dispatch_async(event("first_alert.json"), at=london("2026-11-23", 20, 30))
    assert late.outcome is not None
    assert (late.outcome["status"], late.outcome["reason"]) == ("scheduled", "quiet hours")
    assert late.outcome["send_at"] == "2026-11-24T08:00:00+00:00"
    assert cloud.slack.messages() == [] and cloud.sent_emails() == []
