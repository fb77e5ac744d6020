"""The daily path through the real handlers: daily-tick -> EventBridge -> dispatch -> Slack or SES,
on moto with a local Slack Web API fake reached through slack_sdk's WebClient."""

from __future__ import annotations

import copy
import email
import json
import operator
from datetime import UTC, date, datetime, time, timedelta
from email import policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError
from cfnlint.decode import decode

from ew import runtime
from ew.answers import act
from ew.chain import ACK_ONLY, RENEW, SNOOZE, PingRef
from ew.daily_tick import TickError
from ew.dispatching import DispatchError
from ew.store import ClaimHeld
from ew_local.cloud import InvocationKilled, LambdaContext, LocalCloud, load_handler
from opskit.slack import SlackGateway

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
LONDON = ZoneInfo("Europe/London")
SETTINGS = {"timezone": "Europe/London", "holidays": "GB-ENG", "admin": "ops@acme.example"}
RULES = b"""[default]
first alert: 30 days before
reminder: every 7 days
escalate: 5 days before
escalate to: U04BOSS001
"""
HEADER = "item_id,item,category,expiry_date,owner,owner_email\n"


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def emails(cloud: LocalCloud) -> list[email.message.EmailMessage]:
    return [email.message_from_string(m["raw_data"], policy=policy.default) for m in cloud.sent_emails()]


def text_of(message: email.message.EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def at(day: str, hour: int = 8) -> datetime:
    return datetime.combine(datetime.fromisoformat(day).date(), time(hour), LONDON)


# -- dispatch --------------------------------------------------------------------------------------


def test_first_alert_becomes_a_slack_dm_with_renew_snooze_ack_buttons(cloud: LocalCloud) -> None:
    outcome = cloud.dispatch(event("dispatch/first_alert.json"))
    assert outcome["status"] == "sent" and outcome["channel"] == "slack"
    [dm] = cloud.slack.messages()
    assert dm["channel"] == "U04FIN0001"
    assert "Public liability insurance (insurance) expires on 15 Dec 2026, in 22 days." in dm["text"]
    assert "Broker: Keane &amp; Co" not in dm["text"]  # notes are not in the default first alert
    actions = next(b for b in dm["blocks"] if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == ["renew", "snooze", "ack_only"]
    assert {json.loads(e["value"])["i"] for e in actions["elements"]} == {"ACME-002"}
    assert json.loads(actions["elements"][0]["value"]) == {
        "i": "ACME-002", "c": "2026-12-15", "n": 0, "x": "Public liability insurance", "d": "2027-12-15"
    }  # fmt: skip
    context = next(b for b in dm["blocks"] if b["type"] == "context")
    assert "Expires 15 Dec 2026 · 22 days left · insurance" in context["elements"][0]["text"]
    record = cloud.store.get("ACME-002", 0)
    assert record is not None
    assert (record.status, record.channel, record.ping.sent_on.isoformat()) == ("sent", "slack", "2026-11-23")
    assert record.message_ref and record.message_ref.startswith("D")


def test_a_duplicate_event_sends_one_message(cloud: LocalCloud) -> None:
    first = cloud.dispatch(event("dispatch/first_alert.json"))
    again = cloud.dispatch(event("dispatch/first_alert.json"))
    assert (first["status"], again["status"]) == ("sent", "duplicate")
    assert len(cloud.slack.messages()) == 1


def test_slack_down_sends_the_alert_by_email_with_signed_links(cloud: LocalCloud) -> None:
    cloud.slack.fail("chat.postMessage", status=500, times=10)
    outcome = cloud.dispatch(event("dispatch/first_alert.json"))
    assert (outcome["status"], outcome["channel"], outcome["fell_back"]) == ("sent", "email", True)
    [mail] = emails(cloud)
    assert mail["To"] == "li@acme.example"
    assert mail["Subject"] == "Renewal needed: Public liability insurance (expires 15 Dec 2026)"
    body = text_of(mail)
    assert "Public liability insurance (insurance) expires on 15 Dec 2026, in 22 days." in body
    for label in ("Renew", "Snooze", "Ack only"):
        assert f"{label}: https://actions.local.example/email?t=" in body
    record = cloud.store.get("ACME-002", 0)
    assert record is not None and record.channel == "email" and record.status == "sent"


def test_a_failed_send_releases_the_claim_and_raises_so_the_retry_can_send() -> None:
    # Slack is down and SES refuses the (unverified) sender: nothing can go out.
    with LocalCloud({**SETTINGS, "sender": "unverified@elsewhere.example"}) as cloud:
        cloud.slack.fail("chat.postMessage", status=500, times=10)
        with pytest.raises(Exception, match="the email could not be sent"):
            cloud.dispatch(event("dispatch/first_alert.json"))
        assert cloud.store.get("ACME-002", 0) is None  # the claim was given back
        assert cloud.sent_emails() == []
        # The retry (EventBridge re-invokes) succeeds once SES accepts the sender.
        import boto3

        boto3.client("ses").verify_email_identity(EmailAddress="unverified@elsewhere.example")
        assert cloud.dispatch(event("dispatch/first_alert.json"))["status"] == "sent"
        assert len(cloud.sent_emails()) == 1


def test_an_email_recipient_known_to_slack_gets_a_dm() -> None:
    with LocalCloud(SETTINGS, slack_users={"ops@acme.example": "U04OPS0001"}) as cloud:
        saturday = event("dispatch/escalate_saturday.json")
        monday = copy.deepcopy(saturday)
        monday["detail"]["decided_at"] = "2026-11-30T08:00:00+00:00"
        assert cloud.dispatch(monday)["channel"] == "slack"
        [dm] = cloud.slack.messages()
        assert dm["channel"] == "U04OPS0001"
        assert "sam.ortiz@acme.example" in dm["text"]


def test_weekend_move_is_deferred_by_a_one_off_schedule_that_sends_on_monday(cloud: LocalCloud) -> None:
    outcome = cloud.dispatch(event("dispatch/escalate_saturday.json"))
    assert outcome["status"] == "scheduled"
    assert outcome["send_at"] == "2026-11-30T08:00:00+00:00" and outcome["reason"] == "Saturday"
    assert cloud.slack.messages() == [] and cloud.sent_emails() == []

    [summary] = cloud.scheduler.list_schedules(GroupName="ew-deferrals")["Schedules"]
    schedule = cloud.scheduler.get_schedule(Name=summary["Name"], GroupName="ew-deferrals")
    assert schedule["ScheduleExpression"] == "at(2026-11-30T08:00:00)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/London"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["Target"]["Arn"] == "arn:aws:lambda:us-east-1:123456789012:function:ew-dispatch"
    assert json.loads(schedule["Target"]["Input"]) == event("dispatch/deferred.json")
    record = cloud.store.get("ACME-020", 1)
    assert record is not None and (record.status, str(record.ping.sent_on)) == ("scheduled", "2026-11-30")

    # A duplicate of Saturday's event while it waits: still one schedule, still nothing sent.
    assert cloud.dispatch(event("dispatch/escalate_saturday.json"))["status"] == "duplicate"
    assert len(cloud.pending_schedules()) == 1

    # Monday 08:00 the schedule fires dispatch with its payload: the escalation goes out once.
    fired = cloud.fire_schedules(until=at("2026-11-30"))
    assert [o["status"] for o in fired] == ["sent"]
    [mail] = emails(cloud)
    assert mail["To"] == "ops@acme.example"
    assert "sam.ortiz@acme.example" in text_of(mail)
    assert cloud.dispatch(event("dispatch/deferred.json"))["status"] == "duplicate"
    assert len(cloud.sent_emails()) == 1


def test_a_move_due_before_the_deferred_time_is_sent_now(cloud: LocalCloud) -> None:
    urgent = event("dispatch/escalate_saturday.json")
    urgent["detail"]["move"]["anchor"] = "2026-11-29"  # due Sunday: Monday would be too late
    outcome = cloud.dispatch(urgent)
    assert outcome["status"] == "sent"
    assert outcome["reason"].startswith("sent on Saturday because the deadline 2026-11-29")
    assert len(cloud.sent_emails()) == 1 and cloud.pending_schedules() == []


# -- the tick --------------------------------------------------------------------------------------


def sheet(*rows: str) -> bytes:
    return (HEADER + "".join(r + "\n" for r in rows)).encode()


def test_tick_alerts_everything_in_its_window_in_batches_and_reports_bad_rows(cloud: LocalCloud) -> None:
    rows = [f"T{n:02},Permit {n},permit,2026-12-20,U04OPS{n:04},ops{n}@acme.example" for n in range(25)]
    rows.append("BAD,Broken row,permit,20/12/2026,U04OPS0001,")
    rows.append("FAR,Far away,permit,2027-06-01,U04OPS0001,")
    cloud.mirror(sheet(*rows), RULES)
    put_events_calls: list[int] = []
    runtime.client("events").meta.events.register(
        "before-parameter-build.events.PutEvents",
        lambda params, **_: put_events_calls.append(len(params["Entries"])),
    )
    report, outcomes = cloud.tick(at("2026-11-23"))
    assert report["moves"] == {"first_alert": 25}
    assert report["skipped"] == [
        'registry.csv: row 27, column expiry_date: "20/12/2026" is ambiguous: set the date order '
        "(day-month-year or month-day-year) or write it as 2026-12-20"
    ]
    assert report["rows_skipped"] == 1
    assert put_events_calls == [10, 10, 5]
    assert sorted(o["item_id"] for o in outcomes) == [f"T{n:02}" for n in range(25)]
    assert {m["channel"] for m in cloud.slack.messages()} == {f"U04OPS{n:04}" for n in range(25)}
    # The same tick again (a retry): no second message.
    _, again = cloud.tick(at("2026-11-23"))
    assert again == [] and len(cloud.slack.messages()) == 25


def test_reminders_then_escalation_reach_the_right_people(cloud: LocalCloud) -> None:
    cloud.mirror(sheet("R1,Van insurance,insurance,2026-12-21,U04FIN0001,li@acme.example"), RULES)
    sent: dict[str, tuple[str, str]] = {}
    for day in range(21, 32):  # 21 Nov (a Saturday) .. 1 Dec, then 16 Dec
        now = at(f"2026-11-{day:02}") if day <= 30 else at("2026-12-01")
        cloud.fire_schedules(until=now)
        _, outcomes = cloud.tick(now)
        for o in outcomes:
            sent[now.date().isoformat()] = (o["move"], o["recipient"])
    cloud.fire_schedules(until=at("2026-12-16"))
    _, outcomes = cloud.tick(at("2026-12-16"))
    sent["2026-12-16"] = (outcomes[0]["move"], outcomes[0]["recipient"])
    assert sent == {
        "2026-11-21": ("first_alert", "U04FIN0001"),  # Saturday: deferred to Monday 23
        "2026-11-30": ("reminder", "U04FIN0001"),  # 7 days after Monday's delivery
        "2026-12-16": ("escalate", "U04BOSS001"),  # 5 days before, to the rules' escalation owner
    }
    texts = [m["text"] for m in cloud.slack.messages()]
    assert texts[0].startswith("Van insurance (insurance) expires on 21 Dec 2026, in 28 days.")
    assert "It was with U04FIN0001" in texts[-1]


def test_a_sheet_renewal_archives_the_old_chain_and_starts_a_new_one(cloud: LocalCloud) -> None:
    cloud.mirror(sheet("L1,Lease,contract,2026-12-10,U04LEASE01,"), RULES)
    cloud.tick(at("2026-11-23"))
    assert [p.move for p in cloud.store.load()[0]] == ["first_alert"]
    # The admin renews in the sheet: the expiry moves a year on, drive-sync mirrors it.
    cloud.mirror(sheet("L1,Lease,contract,2027-12-10,U04LEASE01,"))
    report, outcomes = cloud.tick(at("2026-11-24"))
    assert report["archived"] == 1 and outcomes == []
    assert cloud.store.load()[0] == []
    archived = cloud.dynamodb.scan(TableName="ew-pings-archive")["Items"]
    assert [(a["item_id"]["S"], a["chain_key"]["S"]) for a in archived] == [("L1", "2026-12-10#0000")]


def test_a_tick_without_a_mirrored_registry_says_so(cloud: LocalCloud) -> None:
    with pytest.raises(
        TickError, match=r"registry.csv is not in the registry bucket yet: has drive-sync run\?"
    ):
        cloud.tick(at("2026-11-23"))


def test_a_registry_gone_to_glacier_fails_the_tick_handler_in_plain_words(cloud: LocalCloud) -> None:
    cloud.mirror(sheet("G1,Quiet item,contract,2026-12-01,U04LEASE01,"), RULES)
    # What a lifecycle rule that transitions current objects did to a sheet that had not changed in 90 days.
    cloud.s3.copy_object(
        Bucket="ew-registry-source-local",
        Key="registry.csv",
        CopySource={"Bucket": "ew-registry-source-local", "Key": "registry.csv"},
        StorageClass="GLACIER",
    )
    with pytest.raises(
        TickError,
        match=r"^cannot read registry.csv from s3://ew-registry-source-local: it is archived \(Glacier\)",
    ):
        cloud.tick(at("2026-11-23"))  # the handler fails: Lambda counts an error, the tick alarm fires
    assert cloud.slack.messages() == []


def test_the_tick_event_fixture_drives_the_handler(cloud: LocalCloud) -> None:
    cloud.mirror(sheet("F1,Fixture,contract,2026-12-01,U04LEASE01,"), RULES)
    report = cloud.tick_handler(event("daily_tick/scheduled.json"), LambdaContext("ew-daily-tick"))
    assert report["tick_date"] == "2026-11-23" and report["moves"] == {"first_alert": 1}


def test_no_email_to_fall_back_to_is_an_error_that_keeps_the_move_retryable() -> None:
    with LocalCloud({"timezone": "Europe/London"}) as cloud:  # no email admin configured
        cloud.slack.fail("chat.postMessage", status=500, times=10)
        escalation = event("dispatch/first_alert.json")
        escalation["detail-type"] = "ew.escalate"
        escalation["detail"]["move"].update(
            move="escalate", recipient="U04BOSS001", escalated_from="U04FIN0001"
        )
        with pytest.raises(DispatchError) as raised:
            cloud.dispatch(escalation)
        assert str(raised.value) == (
            "ACME-002: Slack is unavailable and there is no email address for U04BOSS001: "
            "add an owner_email column value or set an email admin in /ew/config/admin"
        )
        assert cloud.store.get("ACME-002", 0) is None


def test_an_event_of_the_wrong_shape_is_refused_in_plain_words(cloud: LocalCloud) -> None:
    with pytest.raises(DispatchError, match="not a move event this function understands"):
        cloud.dispatch({"detail-type": "ew.first_alert", "detail": {"item": {}}})
    assert cloud.slack.calls() == []


def test_without_a_slack_token_every_alert_goes_by_email(cloud: LocalCloud) -> None:
    import boto3

    boto3.client("secretsmanager").delete_secret(
        SecretId="ew/slack/bot-token", ForceDeleteWithoutRecovery=True
    )
    runtime.reset()
    outcome = cloud.dispatch(event("dispatch/first_alert.json"))
    assert (outcome["status"], outcome["channel"]) == ("sent", "email")
    assert [m["To"] for m in emails(cloud)] == ["li@acme.example"]
    assert cloud.slack.calls() == []


def test_a_deferral_whose_schedule_cannot_be_created_is_given_back_for_the_retry(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduler = runtime.client("scheduler")
    refusal = ClientError(
        {"Error": {"Code": "ServiceQuotaExceededException", "Message": "quota"}}, "CreateSchedule"
    )

    def refuse(**_: Any) -> None:
        raise refusal

    monkeypatch.setattr(scheduler, "create_schedule", refuse)
    with pytest.raises(ClientError):
        cloud.dispatch(event("dispatch/escalate_saturday.json"))
    assert cloud.store.get("ACME-020", 1) is None  # not stuck as "scheduled" with no schedule
    monkeypatch.undo()
    assert cloud.dispatch(event("dispatch/escalate_saturday.json"))["status"] == "scheduled"
    assert len(cloud.pending_schedules()) == 1


# -- crashes, Lambda's retries and the DLQ (DESIGN.md §9) -------------------------------------------

T0 = datetime(2026, 11, 23, 8, 0, 5, tzinfo=UTC)  # when EventBridge first invokes dispatch


def kill_slack_posts(monkeypatch: pytest.MonkeyPatch, times: int) -> list[str]:
    """The next `times` Slack posts kill the invocation mid-send (a timeout, out of memory): nothing
    in dispatch can catch it, so its claim is never given back. Returns the channels it was posting to."""
    real_post = SlackGateway.post
    killed: list[str] = []

    def post(self: SlackGateway, channel: str, text: str, blocks: list[dict[str, Any]]) -> Any:
        if len(killed) < times:
            killed.append(channel)
            raise InvocationKilled("Task timed out after 30.00 seconds")
        return real_post(self, channel, text, blocks)

    monkeypatch.setattr(SlackGateway, "post", post)
    return killed


def dlq_alarm_fires(depth: int) -> bool:
    """Would template.yaml's alarm on the dispatch DLQ fire at this ApproximateNumberOfMessagesVisible?"""
    template, problems = decode(str(ROOT / "template.yaml"))
    assert not problems and template is not None
    [alarm] = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["DispatchDLQ", "QueueName"]}
    ]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    compare = {"GreaterThanThreshold": operator.gt, "GreaterThanOrEqualToThreshold": operator.ge}
    return bool(compare[alarm["ComparisonOperator"]](depth, alarm["Threshold"]))


def test_dispatch_killed_mid_send_is_sent_once_by_lambdas_retry(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed = kill_slack_posts(monkeypatch, times=1)
    run = cloud.dispatch_async(event("dispatch/first_alert.json"), at=T0)
    assert killed == ["U04FIN0001"]
    assert run.errors == ["InvocationKilled: Task timed out after 30.00 seconds", None]
    assert run.outcome is not None and (run.outcome["status"], run.outcome["channel"]) == ("sent", "slack")
    [dm] = cloud.slack.messages()
    assert dm["channel"] == "U04FIN0001" and "Public liability insurance" in dm["text"]
    assert cloud.sent_emails() == [] and cloud.dead_letters() == []
    record = cloud.store.get("ACME-002", 0)
    assert record is not None and record.status == "sent"
    # A late duplicate of the event (EventBridge delivers at least once): nothing more (its send_at
    # is when it arrived).
    late = cloud.dispatch_async(event("dispatch/first_alert.json"), at=T0 + timedelta(minutes=10)).outcome
    assert late == {**run.outcome, "status": "duplicate", "send_at": "2026-11-23T08:10:05+00:00"}
    assert len(cloud.slack.messages()) == 1


def test_a_duplicate_arriving_while_the_killed_send_may_be_alive_is_retried_not_dropped(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    kill_slack_posts(monkeypatch, times=1)
    cloud.now = T0
    with pytest.raises(InvocationKilled):
        cloud.dispatch(event("dispatch/first_alert.json"))
    # The duplicate 5 seconds later cannot know the first attempt is dead: it fails, so Lambda retries it.
    cloud.now = T0 + timedelta(seconds=5)
    with pytest.raises(
        ClaimHeld, match="ACME-002: ping 0 \\(first_alert\\) is being sent by another attempt"
    ):
        cloud.dispatch(event("dispatch/first_alert.json"))
    assert cloud.slack.messages() == []
    # Lambda's retries: the first event's at +1 min takes the claim over and sends; the duplicate's
    # at +1 min 5 s finds it sent.
    cloud.now = T0 + timedelta(minutes=1)
    assert cloud.dispatch(event("dispatch/first_alert.json"))["status"] == "sent"
    cloud.now = T0 + timedelta(minutes=1, seconds=5)
    assert cloud.dispatch(event("dispatch/first_alert.json"))["status"] == "duplicate"
    assert len(cloud.slack.messages()) == 1


def test_when_every_attempt_dies_the_event_ends_in_the_dlq_and_the_alarm_fires(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    kill_slack_posts(monkeypatch, times=3)
    alert_event = event("dispatch/first_alert.json")
    run = cloud.dispatch_async(alert_event, at=T0)
    assert run.errors == ["InvocationKilled: Task timed out after 30.00 seconds"] * 3
    assert run.dead_lettered and run.outcome is None
    assert cloud.slack.messages() == [] and cloud.sent_emails() == []
    [record] = cloud.dead_letters()
    assert record["requestPayload"] == alert_event
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"]["errorMessage"] == "Task timed out after 30.00 seconds"
    assert cloud.dlq_depth() == 1 and dlq_alarm_fires(cloud.dlq_depth())
    # The operator replays it from the DLQ once Slack behaves: exactly one message.
    replay = cloud.dispatch_async(record["requestPayload"], at=T0 + timedelta(hours=1))
    assert replay.outcome is not None and replay.outcome["status"] == "sent"
    assert len(cloud.slack.messages()) == 1


def test_a_deferred_send_killed_mid_send_is_sent_once_by_lambdas_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with LocalCloud(SETTINGS, slack_users={"ops@acme.example": "U04OPS0001"}) as cloud:
        assert cloud.dispatch(event("dispatch/escalate_saturday.json"))["status"] == "scheduled"
        [(when, _, payload)] = cloud.pending_schedules()
        kill_slack_posts(monkeypatch, times=1)
        # The Monday schedule invokes dispatch asynchronously, like EventBridge.
        run = cloud.dispatch_async(payload, at=when.astimezone(UTC))
        assert run.errors == ["InvocationKilled: Task timed out after 30.00 seconds", None]
        [dm] = cloud.slack.messages()
        assert dm["channel"] == "U04OPS0001" and "sam.ortiz@acme.example" in dm["text"]
        record = cloud.store.get("ACME-020", 1)
        assert record is not None and record.status == "sent"


def test_dispatch_context_timeout_matches_the_template() -> None:
    from ew_local.cloud import ASYNC_RETRIES, DISPATCH_DLQ, DISPATCH_TIMEOUT

    template, _ = decode(str(ROOT / "template.yaml"))
    assert template is not None
    function = template["Resources"]["DispatchFunction"]["Properties"]
    assert function["Timeout"] == DISPATCH_TIMEOUT
    assert function["EventInvokeConfig"]["MaximumRetryAttempts"] == ASYNC_RETRIES
    dlq = template["Resources"]["DispatchDLQ"]["Properties"]["QueueName"]
    assert dlq == {"Fn::Sub": "${Prefix}-dispatch-dlq"} and DISPATCH_DLQ == "ew-dispatch-dlq"


# -- closed cycles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "value"), [(RENEW, date(2027, 12, 15)), (SNOOZE, date(2026, 12, 1)), (ACK_ONLY, None)]
)
def test_a_late_duplicate_after_an_answer_sends_nothing(
    cloud: LocalCloud, action: str, value: date | None
) -> None:
    assert cloud.dispatch(event("dispatch/first_alert.json"))["status"] == "sent"
    ref = PingRef("ACME-002", date(2026, 12, 15), 0)
    assert act(cloud.ack_handler_module.deps(), ref, action, "U04FIN0001", value).first

    late = cloud.dispatch(event("dispatch/first_alert.json"))  # EventBridge's late duplicate
    assert late["status"] == "duplicate"
    assert len(cloud.slack.messages()) == 1 and cloud.sent_emails() == []
    pings = cloud.store.load()[0]
    if action == RENEW:
        assert pings == []  # no old-cycle row recreated
        archived = cloud.dynamodb.scan(TableName="ew-pings-archive")["Items"]
        assert [a["chain_key"]["S"] for a in archived] == ["2026-12-15#0000"]
    else:
        assert [p.move for p in pings] == ["first_alert"]


def test_a_late_duplicate_of_a_later_ping_after_a_renew_sends_nothing(cloud: LocalCloud) -> None:
    assert cloud.dispatch(event("dispatch/first_alert.json"))["status"] == "sent"
    act(
        cloud.ack_handler_module.deps(),
        PingRef("ACME-002", date(2026, 12, 15), 0),
        RENEW,
        "U04FIN0001",
        date(2027, 12, 15),
    )
    reminder = event("dispatch/first_alert.json")  # the key of a reminder the Renew never saw
    reminder["detail-type"] = "ew.reminder"
    reminder["detail"]["move"].update(move="reminder", chain_index=1)
    assert cloud.dispatch(reminder)["status"] == "duplicate"
    assert len(cloud.slack.messages()) == 1 and cloud.store.load()[0] == []


def test_a_deferred_ping_of_a_renewed_cycle_sends_nothing_when_its_schedule_fires(cloud: LocalCloud) -> None:
    assert cloud.dispatch(event("dispatch/escalate_saturday.json"))["status"] == "scheduled"
    act(
        cloud.ack_handler_module.deps(),
        PingRef("ACME-020", date(2026, 12, 18), 1),
        RENEW,
        "U04BOSS001",
        date(2027, 12, 18),
    )
    assert [o["status"] for o in cloud.fire_schedules(until=at("2026-11-30"))] == ["duplicate"]
    assert cloud.slack.messages() == [] and cloud.sent_emails() == []
    assert cloud.store.load()[0] == []


# -- what dispatch accepts, and fallbacks ------------------------------------------------------------


@pytest.mark.parametrize("detail_type", ["ew.digest", "Scheduled Event", None])
def test_only_the_three_move_types_are_delivered(cloud: LocalCloud, detail_type: str | None) -> None:
    stray = event("dispatch/first_alert.json")  # a real move inside, under the wrong detail-type
    if detail_type is None:
        del stray["detail-type"]
    else:
        stray["detail-type"] = detail_type
    with pytest.raises(DispatchError) as refused:
        cloud.dispatch(stray)
    assert str(refused.value) == (
        "dispatch delivers only ew.first_alert, ew.reminder, ew.escalate events and its own deferrals, "
        f"not {detail_type!r}: nothing sent"
    )
    assert cloud.slack.calls() == [] and cloud.sent_emails() == [] and cloud.store.get("ACME-002", 0) is None


def test_a_detail_type_that_does_not_match_its_move_is_refused(cloud: LocalCloud) -> None:
    mismatched = event("dispatch/first_alert.json")
    mismatched["detail-type"] = "ew.escalate"
    with pytest.raises(DispatchError, match=r"does not match the event's detail-type 'ew\.escalate'"):
        cloud.dispatch(mismatched)
    assert cloud.slack.calls() == [] and cloud.store.get("ACME-002", 0) is None


def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> dict[str, list[float]]:
    names: dict[str, list[float]] = {}
    # On Lambda the EMF blob is the function's stdout; the local cloud sends a handler's stdout to stderr.
    for line in capsys.readouterr().err.splitlines():
        if '"_aws"' in line:
            blob = json.loads(line)
            for definition in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                names.setdefault(definition["Name"], []).extend(_as_list(blob[definition["Name"]]))
    return names


def _as_list(value: Any) -> list[float]:
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


def metrics_on(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Metrics flushed as Lambda would (the local cloud turns them off): call it inside the cloud."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    load_handler("dispatch").metrics.clear_metrics()  # never flushed while metrics were off
    capsys.readouterr()


def test_a_slack_500_means_one_post_and_one_email_and_counts_as_a_fallback(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics_on(monkeypatch, capsys)
    cloud.slack.fail("chat.postMessage", status=500)  # once: Slack may have posted before failing
    outcome = cloud.dispatch(event("dispatch/first_alert.json"))
    assert (outcome["status"], outcome["channel"], outcome["fell_back"]) == ("sent", "email", True)
    assert len(cloud.slack.calls("chat.postMessage")) == 1  # not re-posted by the client's retries
    assert [m["To"] for m in emails(cloud)] == ["li@acme.example"]
    metrics = emitted_metrics(capsys)
    assert metrics["SlackFallbackToEmail"] == [1.0] and metrics["Pings_sent"] == [1.0]


def test_a_failed_slack_lookup_falls_back_to_email_and_is_counted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with LocalCloud(SETTINGS, slack_users={"ops@acme.example": "U04OPS0001"}) as cloud:
        metrics_on(monkeypatch, capsys)
        cloud.slack.fail("users.lookupByEmail", error="internal_error")
        monday = event("dispatch/escalate_saturday.json")
        monday["detail"]["decided_at"] = "2026-11-30T08:00:00+00:00"
        outcome = cloud.dispatch(monday)
        assert (outcome["channel"], outcome["fell_back"]) == ("email", True)
        assert [m["To"] for m in emails(cloud)] == ["ops@acme.example"]
        assert cloud.slack.calls("chat.postMessage") == []
        assert emitted_metrics(capsys)["SlackFallbackToEmail"] == [1.0]


def test_an_email_address_slack_does_not_know_is_mailed_without_counting_a_fallback(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics_on(monkeypatch, capsys)
    monday = event("dispatch/escalate_saturday.json")
    monday["detail"]["decided_at"] = "2026-11-30T08:00:00+00:00"
    outcome = cloud.dispatch(monday)
    assert (outcome["channel"], outcome["fell_back"]) == ("email", False)
    assert "SlackFallbackToEmail" not in emitted_metrics(capsys)
