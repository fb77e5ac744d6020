"""calendar-sync through the real handler: `#expires` events read from the Google stand-in with the real
Calendar client (first read, incremental reads with the sync token, a 410 and the full read after it)
become proposal cards in the intake channel that the real ack-handler approves into the sheet; each
event is proposed once, again only when its date moves; cancelled events withdraw their proposal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alerts import ADMIN, ADMIN_SLACK, admin_messages
from crashes import run_without_waiting

from ew import proposals, runtime
from ew.calendar_sync import run_calendar_sync
from ew_local.cloud import LocalCloud, load_handler
from ew_local.slack_payloads import button_click

CAL, INTAKE = "team@acme.example", "C04INTAKE1"
SA_EMAIL = "ops-sync@fake-project.iam.gserviceaccount.com"
SHEET = (
    "item_id,item,category,expiry_date,owner,notes\n"
    "ACME-019,Cyber insurance,insurance,2027-03-01,U04FIN0001,\n"
    "ACME-020,Street trading permit,licence,2026-12-18,sam.ortiz@acme.example,\n"
)
LEASE = {
    "id": "lease1",
    "summary": "Office lease ends #expires",
    "description": "Renew with Harbour Props<br>#expires<br>Notice: &quot;3 months&quot;",
    "start": {"date": "2027-03-31"},
    "end": {"date": "2027-04-01"},
    "organizer": {"email": "dana@acme.example"},
    "creator": {"email": "dana@acme.example"},
}
LUNCH = {
    "id": "lunch1",
    "summary": "Team lunch",
    "description": "no tag here",
    "start": {"date": "2027-01-15"},
}


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    settings = {"timezone": "Europe/London", "admin": ADMIN, "calendar_ids": CAL, "intake_channel": INTAKE}
    with LocalCloud(settings, slack_users={ADMIN: ADMIN_SLACK}) as local:
        local.publish(SHEET.encode())
        local.google.put_event(CAL, LEASE)
        local.google.put_event(CAL, LUNCH)
        yield local


def cards(cloud: LocalCloud) -> list[dict[str, Any]]:
    """Every card posted to the intake channel, as it reads now."""
    return cloud.slack.in_channel(INTAKE)


def proposal_of(card: dict[str, Any]) -> str:
    actions = [b for b in card["blocks"] if b["type"] == "actions"]
    return str(actions[0]["elements"][0]["value"]) if actions else ""


def fields_text(card: dict[str, Any]) -> str:
    return str(card["blocks"][1]["text"]["text"])


def sheet(cloud: LocalCloud) -> list[dict[str, str]]:
    header, *rows = cloud.sheet_rows()
    return [dict(zip(header, row, strict=False)) for row in rows]


def test_the_first_read_proposes_each_expires_event_once(cloud: LocalCloud) -> None:
    report = cloud.calendar_sync()
    assert (report["full_reads"], report["events"], len(report["proposed"])) == ([CAL], 2, 1)
    [card] = cards(cloud)
    assert card["text"] == "Proposed new item: *Office lease ends*"
    assert fields_text(card) == (
        "*What expires:* Office lease ends\n*Expiry date:* 2027-03-31\n"
        '*Owner (Slack user ID or email):* dana@acme.example\n*Notes:* Renew with Harbour Props Notice: "3 months"'
    )
    source = card["blocks"][2]["elements"][0]["text"]
    assert source.startswith(
        f"From the calendar event «Office lease ends #expires» in {CAL}: https://www.google.com/calendar/event?eid="
    )

    again = cloud.calendar_sync()
    assert (again["events"], again["proposed"], again["full_reads"]) == (0, [], [])
    assert "syncToken" in cloud.google.calls("/events")[-1].query
    assert len(cards(cloud)) == 1


def test_an_approved_calendar_proposal_goes_into_the_sheet(cloud: LocalCloud) -> None:
    cloud.calendar_sync()
    [card] = cards(cloud)
    message = {"channel": INTAKE, "ts": card["ts"], "text": card["text"], "blocks": card["blocks"]}
    cloud.slack_click(button_click(message, "proposal_approve", "U04BOSS001"))
    assert sheet(cloud)[-1] == {
        "item_id": "ACME-021", "item": "Office lease ends", "category": "", "expiry_date": "2027-03-31",
        "owner": "dana@acme.example", "notes": 'Renew with Harbour Props Notice: "3 months"',
    }  # fmt: skip
    # Cancelled afterwards: the decision stands, nothing is withdrawn.
    cloud.google.cancel_event(CAL, "lease1")
    assert cloud.calendar_sync()["withdrawn"] == []
    assert cards(cloud)[0]["text"].startswith("Approved by <@U04BOSS001>")


def test_an_edit_proposes_again_only_when_the_date_moves(cloud: LocalCloud) -> None:
    cloud.calendar_sync()
    cloud.google.put_event(CAL, {**LEASE, "summary": "Office lease (Harbour St) #expires"})
    assert cloud.calendar_sync()["proposed"] == []
    cloud.google.put_event(CAL, {**LEASE, "start": {"date": "2027-04-30"}})
    report = cloud.calendar_sync()
    assert len(report["proposed"]) == 1 and len(report["withdrawn"]) == 1
    old, new = cards(cloud)
    assert old["text"].startswith(":no_entry_sign: Withdrawn on ")
    assert old["text"].endswith(": the calendar event moved to 30 Apr 2027; it is proposed again.")
    assert not any(b["type"] == "actions" for b in old["blocks"])
    assert "*Expiry date:* 2027-04-30" in fields_text(new) and proposal_of(new)


def test_a_cancelled_event_withdraws_its_proposal_and_a_stale_click_adds_nothing(cloud: LocalCloud) -> None:
    cloud.calendar_sync()
    [card] = cards(cloud)
    stale = {"channel": INTAKE, "ts": card["ts"], "text": card["text"], "blocks": card["blocks"]}
    cloud.google.cancel_event(CAL, "lease1")
    report = cloud.calendar_sync()
    assert report["withdrawn"] == [proposal_of(card)]
    [now] = cards(cloud)
    assert now["text"].endswith(": the calendar event was cancelled.")
    assert not any(b["type"] == "actions" for b in now["blocks"])
    cloud.slack_click(button_click(stale, "proposal_approve", "U04BOSS001"))
    assert len(sheet(cloud)) == 2


def test_taking_the_tag_off_withdraws_the_proposal(cloud: LocalCloud) -> None:
    cloud.calendar_sync()
    cloud.google.put_event(CAL, {**LEASE, "description": "Renew with Harbour Props"})
    assert len(cloud.calendar_sync()["withdrawn"]) == 1
    assert cards(cloud)[0]["text"].endswith(": #expires was taken off the calendar event.")


def test_the_tag_counts_in_the_description_only_in_any_case_and_past_events_are_not_proposed(
    cloud: LocalCloud,
) -> None:
    cloud.google.put_event(
        CAL, {"id": "t1", "summary": "Visa #expires", "description": "", "start": {"date": "2027-05-01"}}
    )
    cloud.google.put_event(
        CAL,
        {"id": "t2", "summary": "Domain", "description": "#Expires soon", "start": {"date": "2027-05-02"}},
    )
    cloud.google.put_event(
        CAL, {"id": "t3", "summary": "Old permit", "description": "#expires", "start": {"date": "2020-05-02"}}
    )
    cloud.google.put_event(CAL, {"id": "t4", "summary": "Van MOT", "description": "#expires",
                                 "start": {"dateTime": "2027-06-01T00:30:00+01:00"},
                                 "organizer": {"email": "abc123@group.calendar.google.com"},
                                 "creator": {"email": "sam.ortiz@acme.example"}})  # fmt: skip
    cloud.calendar_sync()
    texts = {c["text"]: fields_text(c) for c in cards(cloud)}
    assert set(texts) == {"Proposed new item: *Office lease ends*", "Proposed new item: *Domain*",
                          "Proposed new item: *Van MOT*"}  # fmt: skip
    # The local date of a timed event (not 31 May in UTC); the creator when a calendar organizes it.
    assert "*Expiry date:* 2027-06-01" in texts["Proposed new item: *Van MOT*"]
    assert "sam.ortiz@acme.example" in texts["Proposed new item: *Van MOT*"]


def test_an_expired_sync_token_reads_everything_again_without_proposing_twice(cloud: LocalCloud) -> None:
    cloud.calendar_sync()
    cloud.google.put_event(
        CAL, {"id": "dom1", "summary": "Domain", "description": "#expires", "start": {"date": "2027-05-02"}}
    )
    cloud.calendar_sync()
    cloud.google.cancel_event(CAL, "lease1")  # deleted while ...
    cloud.google.expire_sync_tokens(CAL)  # ... the token expired: the incremental read would have said so
    report = cloud.calendar_sync()
    assert report["full_reads"] == [CAL] and report["proposed"] == []
    assert len(report["withdrawn"]) == 1  # the lease's proposal: its event is gone from the full read
    lease, domain = cards(cloud)
    assert lease["text"].endswith(": the calendar event was cancelled.")
    assert domain["text"] == "Proposed new item: *Domain*"
    assert [c.query.get("syncToken") is not None for c in cloud.google.calls("/events")[-2:]] == [True, False]


def test_a_calendar_not_shared_is_told_once_with_whom_to_share_it(cloud: LocalCloud) -> None:
    cloud.google.unshare(CAL)
    for _ in range(3):
        assert cloud.calendar_sync()["unreadable"] == [CAL]
    told = admin_messages(cloud)
    assert told == [
        f"I cannot read the calendar {CAL}, so its #expires events are not proposed: Google Calendar refused "
        f"the request (404): the calendar {CAL} was not found: check its ID, and share it with {SA_EMAIL} "
        "(See all event details)."
    ]
    cloud.google.share(CAL)
    assert len(cloud.calendar_sync()["proposed"]) == 1
    told = admin_messages(cloud)
    assert told[1:] == [f"I can read the calendar {CAL} again: its #expires events are proposed as before."]


def sync_without_waiting(cloud: LocalCloud) -> tuple[dict[str, Any], list[float]]:
    return run_without_waiting("calendar_sync", run_calendar_sync)


def test_429s_and_rate_limit_403s_are_retried(cloud: LocalCloud) -> None:
    cloud.google.fail("/events", 429)
    cloud.google.fail("/events", 403, reason="rateLimitExceeded")
    report, waits = sync_without_waiting(cloud)
    assert len(report["proposed"]) == 1 and len(waits) == 2 and report["failed"] == []


def test_google_down_leaves_the_token_and_fails_the_run(cloud: LocalCloud) -> None:
    cloud.calendar_sync()
    cloud.google.put_event(
        CAL, {"id": "dom1", "summary": "Domain", "description": "#expires", "start": {"date": "2027-05-02"}}
    )
    cloud.google.fail("/events", 500, times=100)
    report, _ = sync_without_waiting(cloud)
    assert report["failed"] == [CAL] and report["proposed"] == []
    cloud.google.reset()
    assert len(cloud.calendar_sync()["proposed"]) == 1  # the change is still there to read


def test_slack_down_posts_nothing_and_the_next_run_posts_once(cloud: LocalCloud) -> None:
    cloud.slack.fail(
        "chat.postMessage", "internal_error", status=500, times=1
    )  # chat.postMessage is never retried: it may have posted
    handler = load_handler("calendar_sync")
    with pytest.raises(handler.SyncIncomplete, match=CAL):
        cloud.calendar_sync()
    assert cards(cloud) == []
    assert len(cloud.calendar_sync()["proposed"]) == 1
    assert cloud.calendar_sync()["proposed"] == []
    assert len(cards(cloud)) == 1


def test_death_right_after_posting_posts_again_but_decides_once(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = proposals.propose

    def post_then_die(*args: Any, **kwargs: Any) -> str:
        real(*args, **kwargs)
        raise SystemExit("the process died")

    monkeypatch.setattr(proposals, "propose", post_then_die)
    with pytest.raises(SystemExit):
        cloud.calendar_sync()
    monkeypatch.setattr(proposals, "propose", real)
    cloud.calendar_sync()
    first, second = cards(cloud)
    assert proposal_of(first) == proposal_of(second)  # the same proposal, posted twice
    for card in (first, second):
        message = {"channel": INTAKE, "ts": card["ts"], "text": card["text"], "blocks": card["blocks"]}
        cloud.slack_click(button_click(message, "proposal_approve", "U04BOSS001"))
    assert [row["item"] for row in sheet(cloud)].count("Office lease ends") == 1
    assert cloud.calendar_sync()["proposed"] == []


def test_no_calendars_configured_reads_nothing(cloud: LocalCloud) -> None:
    import boto3

    boto3.client("ssm").delete_parameter(Name="/ew/config/calendar_ids")
    runtime.reset()
    assert cloud.calendar_sync()["calendars"] == 0
    assert cloud.google.calls("/events") == []


def test_the_sample_scheduler_event_runs_the_handler(cloud: LocalCloud) -> None:
    import json

    from ew_local.cloud import ROOT, LambdaContext

    event = json.loads((ROOT / "events" / "calendar_sync" / "scheduled.json").read_text())
    assert len(cloud.calendar_sync_handler(event, LambdaContext("ew-calendar-sync"))["proposed"]) == 1


def test_a_withdrawn_card_slack_would_not_update_says_withdrawn_on_the_next_click(cloud: LocalCloud) -> None:
    cloud.calendar_sync()
    [card] = cards(cloud)
    stale = {"channel": INTAKE, "ts": card["ts"], "text": card["text"], "blocks": card["blocks"]}
    cloud.google.cancel_event(CAL, "lease1")
    cloud.slack.fail("chat.update", "internal_error", status=500, times=3)  # every retry of one call
    assert cloud.calendar_sync()["withdrawn"] == [proposal_of(card)]
    assert any(b["type"] == "actions" for b in cards(cloud)[0]["blocks"])  # the card kept its buttons
    cloud.slack_click(button_click(stale, "proposal_approve", "U04BOSS001"))
    [now] = cards(cloud)
    assert now["text"].startswith(":no_entry_sign: Withdrawn on ")
    assert now["text"].endswith(": the calendar event was cancelled.")
    assert not any(b["type"] == "actions" for b in now["blocks"])
    assert len(sheet(cloud)) == 2  # nothing appended
