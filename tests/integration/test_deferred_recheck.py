"""A deferred or late alert goes out with the item as the sheet shows it when it goes out, not as the
tick saw it: gone, retired or renewed meanwhile, nothing is sent; handed to a new owner, the new owner
gets it. And a deferred alert that arrives late, in quiet hours again, waits again (DESIGN.md §6, §7)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from crashes import killed_around

from ew import runtime
from ew_local.cloud import LocalCloud

SETTINGS = {"timezone": "Europe/London", "admin": "ops@acme.example"}
RULES = "[default]\nfirst alert: 60 days before\nreminder: every 14 days\nescalate: 7 days before\n"
HEADER = "item_id,item,category,expiry_date,owner,renewal_term,status\n"
LEASE = "A-1,Office lease,contract,2027-03-31,U04LEASE01,1 year,active\n"
VAN = "A-2,Van insurance,insurance,1 Jan 2027,U04FIN0001,1 year,active\n"
SATURDAY = datetime(2026, 11, 28, 8, tzinfo=UTC)  # the tick decides A-2's first alert: deferred
MONDAY_8 = datetime(2026, 11, 30, 8, tzinfo=UTC)  # ...to Monday 08:00


def drive_sync_at(cloud: LocalCloud, moment: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        chain_store = runtime.chain_store
        patch.setattr(runtime, "chain_store", lambda: chain_store().with_clock(lambda: moment))
        with cloud.at(moment):
            cloud.drive_sync()


def sheet(cloud: LocalCloud, rows: str, moment: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone edits the sheet; drive-sync mirrors it at `moment`."""
    cloud.publish((HEADER + rows).encode(), RULES, "")
    drive_sync_at(cloud, moment, monkeypatch)


@pytest.fixture
def waiting(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCloud]:
    """A-2's first alert, decided on Saturday, waits for Monday 08:00."""
    with LocalCloud(SETTINGS) as cloud:
        sheet(cloud, LEASE + VAN, datetime(2026, 11, 28, 7, tzinfo=UTC), monkeypatch)
        _, outcomes = cloud.tick(SATURDAY)
        assert [(o["item_id"], o["status"]) for o in outcomes] == [("A-2", "scheduled")]
        assert cloud.slack.messages() == []
        yield cloud


SUNDAY = datetime(2026, 11, 29, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        (LEASE, "the item is no longer in the sheet"),
        (LEASE + VAN.replace(",active", ",retired"), "the item is retired in the sheet"),
    ],
    ids=["removed", "retired"],
)
def test_a_waiting_alert_for_an_item_removed_or_retired_since_is_not_sent(
    waiting: LocalCloud, monkeypatch: pytest.MonkeyPatch, rows: str, why: str
) -> None:
    sheet(waiting, rows, SUNDAY, monkeypatch)
    [outcome] = waiting.fire_schedules(until=MONDAY_8)
    assert (outcome["status"], outcome["reason"]) == ("skipped", why)
    assert waiting.slack.messages() == [] and waiting.sent_emails() == []
    assert waiting.store.chain_pings("A-2") == []  # never sent: not counted as a ping


def test_a_waiting_alert_for_an_item_renewed_in_the_sheet_since_is_not_sent(
    waiting: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    sheet(waiting, LEASE + VAN.replace("1 Jan 2027", "1 Jan 2028"), SUNDAY, monkeypatch)
    [outcome] = waiting.fire_schedules(until=MONDAY_8)
    assert outcome["status"] in ("skipped", "duplicate")
    assert waiting.slack.messages() == [] and waiting.sent_emails() == []


def test_a_waiting_alert_goes_to_the_owner_the_sheet_names_when_it_goes_out(
    waiting: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    sheet(waiting, LEASE + VAN.replace("U04FIN0001", "U04NEWOWN1"), SUNDAY, monkeypatch)
    [outcome] = waiting.fire_schedules(until=MONDAY_8)
    assert outcome["status"] == "sent"
    [dm] = waiting.slack.messages()
    assert dm["channel"] == "U04NEWOWN1"  # not Friday's owner
    assert "in 32 days" in dm["text"]


def test_a_waiting_alert_that_fires_late_in_quiet_hours_waits_for_the_morning(waiting: LocalCloud) -> None:
    [(_, _, payload)] = waiting.pending_schedules()
    # Scheduler's retries (or a replay from the deferral DLQ) bring it in at 21:00 on Monday.
    late = waiting.dispatch_async(payload, at=datetime(2026, 11, 30, 21, tzinfo=UTC))
    assert late.outcome is not None
    assert (late.outcome["status"], late.outcome["reason"]) == ("scheduled", "quiet hours")
    assert waiting.slack.messages() == []
    assert [when for when, _, _ in waiting.pending_schedules()][-1] == datetime(2026, 12, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_late_alert_killed_around_its_new_schedule_still_waits_once_for_the_morning(
    waiting: LocalCloud, when: str
) -> None:
    [(_, _, payload)] = waiting.pending_schedules()
    # Monday 21:00 again, and the attempt dies right before (or right after) Scheduler creates the new
    # schedule: Lambda's retry a minute later takes over and waits for the morning; nothing is sent.
    with killed_around("scheduler", "CreateSchedule", when) as killed:
        late = waiting.dispatch_async(payload, at=datetime(2026, 11, 30, 21, tzinfo=UTC))
    assert killed == [f"{when} CreateSchedule"]
    assert late.outcome is not None and not late.dead_lettered
    assert (late.outcome["status"], late.outcome["reason"]) == ("scheduled", "quiet hours")
    assert late.errors[0] is not None and late.errors[-1] is None
    assert waiting.slack.messages() == []
    tuesday = [
        p for when_, _, p in waiting.pending_schedules() if when_ == datetime(2026, 12, 1, 8, tzinfo=UTC)
    ]
    assert len(tuesday) == 1  # created again by the retry under the same name: one schedule, one alert
    morning = waiting.dispatch_async(tuesday[0], at=datetime(2026, 12, 1, 8, tzinfo=UTC))
    assert morning.outcome is not None and morning.outcome["status"] == "sent"
    assert len(waiting.slack.messages()) == 1


def test_a_first_alert_replayed_from_the_dlq_after_a_renewal_in_the_sheet_is_not_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with LocalCloud(SETTINGS) as cloud:
        sheet(cloud, LEASE + VAN, datetime(2026, 11, 23, 7, tzinfo=UTC), monkeypatch)
        # Monday's tick decides A-2's first alert; every try fails (here: never delivered) -> DLQ.
        events: list[dict[str, Any]] = []
        real = cloud.dispatch

        def lost(event: dict[str, Any]) -> dict[str, Any]:
            events.append(copy.deepcopy(event))
            return {"status": "lost"}

        cloud.dispatch = lost
        try:
            cloud.tick(datetime(2026, 11, 23, 8, tzinfo=UTC))
        finally:
            cloud.dispatch = real
        [alert] = events
        # At noon the owner types the renewal into the sheet; drive-sync mirrors it.
        sheet(cloud, LEASE + VAN.replace("1 Jan 2027", "1 Jan 2028"), datetime(2026, 11, 23, 12, tzinfo=UTC),
              monkeypatch)  # fmt: skip
        replay = cloud.dispatch_async(alert, at=datetime(2026, 11, 23, 14, tzinfo=UTC))
        assert replay.outcome is not None
        assert replay.outcome["status"] == "skipped"
        assert "another expiry (2028-01-01)" in replay.outcome["reason"]
        assert cloud.slack.messages() == [] and cloud.sent_emails() == []
