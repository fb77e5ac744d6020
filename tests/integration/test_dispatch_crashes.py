"""dispatch killed right before and right after each of its external writes (the claim in DynamoDB, the
one-off schedule, the Slack post, the SES send, the record of the delivery), then replayed as Lambda
replays an asynchronous invocation (+1 and +3 minutes) and as EventBridge repeats an event (late).
What a person sees is asserted: exactly one message, or the documented exception (README, "Delivery:
never lost silently": a send that went out but was not recorded goes again)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import crashes
import pytest
from crashes import killed_around, killed_in

from ew.store import ClaimHeld
from ew_local.cloud import InvocationKilled, LocalCloud
from opskit.slack import SlackGateway

EVENTS = Path(__file__).resolve().parents[2] / "events" / "dispatch"
SETTINGS = {"timezone": "Europe/London", "holidays": "GB-ENG", "admin": "ops@acme.example"}
KILLED = f"InvocationKilled: {crashes.KILLED}"
T0 = datetime(2026, 11, 23, 8, 0, 5, tzinfo=UTC)  # Monday: the first alert goes at once
SATURDAY = datetime(2026, 11, 28, 8, 0, 5, tzinfo=UTC)  # the escalation waits for Monday 08:00


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(SETTINGS, slack_users={"ops@acme.example": "U04OPS0001"}) as local:
        yield local


def status(cloud: LocalCloud, item_id: str, index: int) -> str | None:
    record = cloud.store.get(item_id, index)
    return record.status if record else None


# -- the immediate path -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "when"),
    [("TransactWriteItems", "before"), ("TransactWriteItems", "after"), ("UpdateItem", "before")],
    ids=["before the claim", "after the claim", "before recording the delivery"],
)
def test_killed_around_the_claim_or_before_the_record_still_sends_once(
    cloud: LocalCloud, operation: str, when: str
) -> None:
    with killed_around("dynamodb", operation, when) as killed:  # UpdateItem: mark_sent, after the post
        run = cloud.dispatch_async(event("first_alert.json"), at=T0)
    assert killed and run.errors == [KILLED, None] and not run.dead_lettered
    posted = len(cloud.slack.messages())
    # Killed before the record: Slack had posted, so the retry posts again (README: "a second post
    # comes only from a retry: dispatch died between Slack's answer and recording it").
    assert posted == (2 if operation == "UpdateItem" else 1)
    assert status(cloud, "ACME-002", 0) == "sent"
    late = cloud.dispatch_async(event("first_alert.json"), at=T0 + timedelta(hours=2))
    assert late.outcome is not None and late.outcome["status"] == "duplicate"
    assert len(cloud.slack.messages()) == posted and cloud.sent_emails() == []


def test_killed_after_recording_the_delivery_the_retry_sends_nothing(cloud: LocalCloud) -> None:
    with killed_around("dynamodb", "UpdateItem", "after"):
        run = cloud.dispatch_async(event("first_alert.json"), at=T0)
    assert run.errors == [KILLED, None]
    assert run.outcome is not None and run.outcome["status"] == "duplicate"
    assert len(cloud.slack.messages()) == 1 and status(cloud, "ACME-002", 0) == "sent"


def test_killed_after_slack_posted_the_retry_posts_once_more_as_documented(cloud: LocalCloud) -> None:
    with killed_in(SlackGateway, "post", "after"):  # Slack posted; the answer died with the process
        run = cloud.dispatch_async(event("first_alert.json"), at=T0)
    assert run.errors == [KILLED, None]
    assert [m["channel"] for m in cloud.slack.messages()] == ["U04FIN0001", "U04FIN0001"]
    record = cloud.store.get("ACME-002", 0)
    assert record is not None and record.status == "sent"
    channel, ts = (record.message_ref or "/").split("/")
    assert cloud.slack.message(channel, ts) is not None  # the card a click will update is the recorded one


def test_killed_after_ses_accepted_the_email_the_retry_emails_once_more_as_documented(
    cloud: LocalCloud,
) -> None:
    cloud.without_slack()
    with killed_around("ses", "SendRawEmail", "after"):
        run = cloud.dispatch_async(event("first_alert.json"), at=T0)
    assert run.errors == [KILLED, None]
    assert [e["destinations"] for e in cloud.sent_emails()] == [["li@acme.example"]] * 2
    assert status(cloud, "ACME-002", 0) == "sent"


# -- the deferred path: the claim, then the one-off schedule -------------------------------------------


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_around_creating_the_schedule_the_retry_leaves_exactly_one_schedule(
    cloud: LocalCloud, when: str
) -> None:
    with killed_around("scheduler", "CreateSchedule", when) as killed:
        run = cloud.dispatch_async(event("escalate_saturday.json"), at=SATURDAY)
    assert killed == [f"{when} CreateSchedule"]
    assert run.errors == [KILLED, None]
    assert run.outcome is not None and run.outcome["status"] == "scheduled"
    [(due, _, _)] = cloud.pending_schedules()
    assert status(cloud, "ACME-020", 1) == "scheduled"
    # Monday 08:00: the one schedule fires, and the escalation goes once.
    assert [o["status"] for o in cloud.fire_schedules(until=due)] == ["sent"]
    [dm] = cloud.slack.messages()
    assert dm["channel"] == "U04OPS0001"
    late = cloud.dispatch_async(event("escalate_saturday.json"), at=SATURDAY + timedelta(hours=1))
    assert late.outcome is not None and late.outcome["status"] == "duplicate"
    assert len(cloud.slack.messages()) == 1 and cloud.pending_schedules() == []


def test_a_duplicate_while_the_deferral_is_being_scheduled_is_retried_not_dropped(cloud: LocalCloud) -> None:
    cloud.now = SATURDAY
    with killed_around("scheduler", "CreateSchedule", "before"), pytest.raises(InvocationKilled):
        cloud.dispatch(event("escalate_saturday.json"))
    cloud.now = SATURDAY + timedelta(seconds=5)  # EventBridge's duplicate, while the first may be alive
    with pytest.raises(ClaimHeld, match="ACME-020: ping 1 \\(escalate\\) is being sent by another attempt"):
        cloud.dispatch(event("escalate_saturday.json"))
    cloud.now = SATURDAY + timedelta(minutes=1)  # Lambda's retry of the first
    assert cloud.dispatch(event("escalate_saturday.json"))["status"] == "scheduled"
    cloud.now = SATURDAY + timedelta(minutes=1, seconds=5)  # and of the duplicate
    assert cloud.dispatch(event("escalate_saturday.json"))["status"] == "duplicate"
    cloud.now = None
    assert len(cloud.pending_schedules()) == 1


def test_every_attempt_killed_before_scheduling_ends_in_the_dlq_and_its_replay_schedules_once(
    cloud: LocalCloud,
) -> None:
    with killed_around("scheduler", "CreateSchedule", "before", times=3):
        run = cloud.dispatch_async(event("escalate_saturday.json"), at=SATURDAY)
    assert run.dead_lettered and cloud.pending_schedules() == []
    [record] = cloud.dead_letters()
    replay = cloud.dispatch_async(record["requestPayload"], at=SATURDAY + timedelta(hours=1))
    assert replay.outcome is not None and replay.outcome["status"] == "scheduled"
    assert len(cloud.pending_schedules()) == 1
