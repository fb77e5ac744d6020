"""The daily path tried the way it fails in production: late and replayed events, the sheet moving
under a waiting or late move, odd days (DST changes, holidays, 29 February)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alerts import set_expiry

from ew import runtime
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


# -- the sheet moves under a late move ---------------------------------------------------------------

SHEET = (
    "item_id,item,category,expiry_date,owner,renewal_term\n"
    "A-1,Office lease,contract,2027-03-31,U04LEASE01,1 year\n"
    "A-2,Van insurance,insurance,1 Jan 2027,U04FIN0001,1 year\n"
)
RULES = "[default]\nfirst alert: 60 days before\nreminder: every 14 days\nescalate: 7 days before\n"


def tick_events(cloud: LocalCloud, now: datetime) -> list[dict[str, Any]]:
    """Run the tick at `now` and dispatch its events; returns the events, for replaying them later."""
    seen: list[dict[str, Any]] = []
    real = cloud.dispatch

    def dispatch(event: dict[str, Any]) -> dict[str, Any]:
        seen.append(copy.deepcopy(event))
        return real(event)

    cloud.dispatch = dispatch
    try:
        cloud.tick(now)
    finally:
        del cloud.dispatch
    return seen


def drive_sync_at(cloud: LocalCloud, moment: datetime, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """drive-sync run at `moment`, its archive dated then (the chain store keeps its own clock)."""
    with monkeypatch.context() as patch:
        chain_store = runtime.chain_store
        patch.setattr(runtime, "chain_store", lambda: chain_store().with_clock(lambda: moment))
        with cloud.at(moment):
            return cloud.drive_sync()


@pytest.fixture
def renewed_in_sheet(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalCloud, dict[str, Any]]]:
    """A-2 got its first alert on Monday 23 Nov; at noon its owner typed a renewal into the sheet.
    Yields the cloud and the first alert's event."""
    with LocalCloud({"timezone": "Europe/London", "admin": "ops@acme.example"}) as cloud:
        cloud.publish(SHEET.encode(), RULES, "")
        drive_sync_at(cloud, datetime(2026, 11, 23, 7, tzinfo=UTC), monkeypatch)
        [alert] = tick_events(cloud, datetime(2026, 11, 23, 8, tzinfo=UTC))
        assert len(cloud.slack.messages()) == 1
        set_expiry(cloud, "A-2", "1 Jan 2028")
        assert drive_sync_at(cloud, datetime(2026, 11, 23, 12, tzinfo=UTC), monkeypatch)["archived"] == 1
        yield cloud, alert


def test_a_late_duplicate_after_a_renewal_typed_into_the_sheet_sends_nothing(
    renewed_in_sheet: tuple[LocalCloud, dict[str, Any]],
) -> None:
    cloud, alert = renewed_in_sheet
    # EventBridge delivers Monday's first alert again (or the operator replays it from the DLQ).
    late = cloud.dispatch_async(alert, at=datetime(2026, 11, 23, 13, tzinfo=UTC))
    # Late (hours after the tick): checked against the sheet first, which shows the next cycle.
    assert late.outcome is not None and late.outcome["status"] == "skipped"
    assert len(cloud.slack.messages()) == 1  # no second card for a cycle the sheet has renewed
    assert cloud.store.chain_pings("A-2") == []


def test_a_cycle_the_sheet_reopens_is_alerted_again(
    renewed_in_sheet: tuple[LocalCloud, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud, _ = renewed_in_sheet
    set_expiry(cloud, "A-2", "1 Jan 2027")  # the renewal was a mistake: taken back that afternoon
    drive_sync_at(cloud, datetime(2026, 11, 23, 15, tzinfo=UTC), monkeypatch)
    _, outcomes = cloud.tick(datetime(2026, 11, 24, 8, tzinfo=UTC))
    assert [(o["item_id"], o["move"], o["status"]) for o in outcomes] == [("A-2", "first_alert", "sent")]
    assert "expires on 1 Jan 2027" in cloud.slack.messages()[-1]["text"]


# -- odd days ---------------------------------------------------------------------------------------


def test_a_leap_day_expiry_on_a_bank_holiday_escalates_on_time_and_renews_to_28_february() -> None:
    # 29 Feb 2028 is a Tuesday; the escalation day (5 days before) is Thursday 24 Feb, a closed day.
    # No tick runs between 31 Jan and 24 Feb (the schedule missed them): the next one catches up.
    rules = b"[default]\nfirst alert: 30 days before\nreminder: every 7 days\nescalate: 5 days before\n"
    rules += b"escalate to: U04BOSS001\nclosed: 2028-02-24\n"
    sheet = b"item_id,item,expiry_date,owner,renewal_term\nL-1,Leap licence,2028-02-29,U04OWNER01,1 year\n"
    with LocalCloud(SETTINGS) as cloud:
        cloud.mirror(sheet, rules)
        _, [first] = cloud.tick(london("2028-01-31", 8))
        assert (first["move"], first["status"]) == ("first_alert", "sent")
        [card] = cloud.slack.messages()
        assert "expires on 29 Feb 2028, in 29 days." in card["text"]
        renew = next(b for b in card["blocks"] if b["type"] == "actions")["elements"][0]
        assert json.loads(renew["value"])["d"] == "2029-02-28"
        # The closed Thursday: the escalation waits for Friday 08:00, still before the expiry.
        _, [escalation] = cloud.tick(london("2028-02-24", 8))
        assert (escalation["move"], escalation["status"], escalation["reason"]) == (
            "escalate", "scheduled", "closed"
        )  # fmt: skip
        assert escalation["send_at"] == "2028-02-25T08:00:00+00:00"
        assert cloud.tick(london("2028-02-25", 8))[1] == []  # the waiting escalation counts already
        assert [o["status"] for o in cloud.fire_schedules(until=london("2028-02-25", 8))] == ["sent"]
        assert cloud.slack.messages()[-1]["channel"] == "U04BOSS001"
