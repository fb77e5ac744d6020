"""The digest function through its real handler on the local cloud: a replayed week of the example, the
message the digest channel gets (or the admin's email), once per week, whatever fails."""

from __future__ import annotations

import email
import math
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from email import policy
from pathlib import Path
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import boto3
import pytest

from ew import runtime
from ew.activity import ActivityReader
from ew.weekly_digest import LEASE, DigestError
from ew_local.cloud import NAMES, LambdaContext, LocalCloud, load_handler
from ew_local.report import replay
from ew_local.simulate import ScriptedAck, Simulation
from opskit.state import Busy, StateTable

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
LONDON = ZoneInfo("Europe/London")
CHANNEL = "C0EWDIGEST"
SETTINGS = {"timezone": "Europe/London", "holidays": "GB-ENG", "admin": "ops@acme.example"}
SUNDAY = date(2026, 11, 29)


def digest(
    cloud: LocalCloud, day: date = SUNDAY, at: time = time(18), wall: datetime | None = None
) -> dict[str, Any]:
    """The digest as its schedule starts it at `at` on `day`; `wall` is the clock when it runs (a
    retried event keeps its scheduled time while the clock moves on)."""
    moment = datetime.combine(day, at, LONDON)
    with patch.object(runtime, "utc_now", lambda: wall or moment):  # the clock the claim's lease reads
        result: dict[str, Any] = load_handler("digest").handler(
            {"scheduled_time": moment.isoformat()}, LambdaContext("ew-digest")
        )
    return result


def mirror_example(cloud: LocalCloud) -> Simulation:
    cloud.mirror(*((EXAMPLE / name).read_bytes() for name in ("registry.csv", "rules.txt", "voice.txt")))
    from ew.items import load_registry

    return Simulation(cloud, load_registry((EXAMPLE / "registry.csv").read_bytes()).items, "Europe/London")


def delivered(cloud: LocalCloud) -> tuple[int, int]:
    """(Slack messages, emails) people received so far."""
    return len(cloud.slack.messages()), len(cloud.sent_emails())


def emails(cloud: LocalCloud) -> list[email.message.EmailMessage]:
    return [email.message_from_string(m["raw_data"], policy=policy.default) for m in cloud.sent_emails()]


def text_of(message: email.message.EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud({**SETTINGS, "digest_channel": CHANNEL}) as local:
        yield local


def test_the_weeks_digest_counts_what_people_received_archived_chains_included(cloud: LocalCloud) -> None:
    sim = mirror_example(cloud)
    replay(sim, date(2026, 11, 16), date(2026, 11, 22), [])
    slack_before, email_before = delivered(cloud)
    clicks = [
        ScriptedAck(date(2026, 11, 24), "ACME-002", "renew", date(2027, 12, 15), 1),  # closes its chain
        ScriptedAck(date(2026, 11, 26), "ACME-010", "ack_only", None, 2),
        ScriptedAck(date(2026, 11, 27), "ACME-006", "snooze", date(2026, 12, 4), 3),
    ]
    replay(sim, date(2026, 11, 23), SUNDAY, clicks)
    slack_sent, email_sent = delivered(cloud)
    slack_sent, email_sent = slack_sent - slack_before, email_sent - email_before
    # ACME-002's first alert went out on Monday; the renewal moved its chain to the archive.
    archived = cloud.dynamodb.scan(TableName=NAMES["EW_ARCHIVE_TABLE"])["Items"]
    assert {row["item_id"]["S"] for row in archived} == {"ACME-002"}

    result = digest(cloud)

    assert result["status"] == "sent" and result["via"] == "slack"
    [posted] = cloud.slack.messages()[slack_before + slack_sent :]
    assert posted["channel"] == CHANNEL
    sections = [b["text"]["text"] for b in posted["blocks"] if b["type"] == "section"]
    counts = result["figures"]["pings_by_channel"]
    # What the digest counts is what people got this week, Monday's deferred deliveries included.
    assert (counts.get("slack", 0), counts.get("email", 0)) == (slack_sent, email_sent)
    assert sections[0].startswith(f"*Pings sent:* {slack_sent + email_sent} (")
    assert sections[0].endswith("*Answers:* 3 (1 renewed, 1 snoozed, 1 ack only)")
    upcoming = sections[1].splitlines()
    assert upcoming[0] == "*Expiring in the next 30 days* (6)"
    assert "Public liability insurance" not in sections[1]  # renewed on Tuesday
    assert upcoming[1].startswith("• *Mail relay API key* · <@U04IT00001> · 2 Dec 2026 (in 3 days) · ")
    assert (
        "• *www.acme.example TLS certificate* · <@U04IT00001> · 9 Dec 2026 (in 10 days) · snoozed until 4 Dec 2026"
        in upcoming
    )
    assert (
        "• *Accounting software subscription* · <@U04FIN0001> · 20 Dec 2026 (in 21 days) · answered"
        in upcoming
    )
    days = [int(line.split("(in ")[1].split(" days")[0]) for line in upcoming[1:]]
    assert days == sorted(days)
    assert sections[2:] == ["*Past expiry, not renewed:* none", "*Sheet problems:* none"]
    # The week was read with a few paged Scans, not a request per item.
    assert result["requests"] == 3

    # The schedule (or Lambda) delivering the same run again sends nothing.
    assert digest(cloud)["status"] == "duplicate"
    assert len(cloud.slack.messages()) == slack_before + slack_sent + 1


def test_bad_sheet_rows_and_overdue_items_are_in_the_digest(cloud: LocalCloud) -> None:
    sheet = (
        b"item_id,item,expiry_date,owner\n"
        b"X-1,Office lease,2026-11-20,U04LEASE01\n"
        b"X-2,Van insurance,2026-12-10,U04FIN0001\n"
        b"X-3,Bad row,someday,U04FIN0001\n"
    )
    cloud.mirror(sheet, b"[default]\nfirst alert: 30 days before\n")
    cloud.tick(datetime.combine(date(2026, 11, 23), time(8), LONDON))
    digest(cloud)
    sections = [b["text"]["text"] for b in cloud.slack.messages()[-1]["blocks"] if b["type"] == "section"]
    assert sections[2] == (
        "*Past expiry, not renewed* (1)\n• *Office lease* · <@U04LEASE01> · 20 Nov 2026 (9 days ago) · waiting"
    )
    assert sections[3].splitlines()[0] == "*Sheet problems* (1)"
    assert sections[3].splitlines()[1].startswith("• registry.csv: row 4, column expiry_date: ")


def test_without_a_digest_channel_the_admin_gets_the_digest_by_email() -> None:
    with LocalCloud(SETTINGS) as cloud:
        mirror_example(cloud).tick(date(2026, 11, 23))
        before = len(cloud.sent_emails())
        result = digest(cloud)
        assert (result["status"], result["via"], result["fell_back"]) == ("sent", "email", False)
        [message] = emails(cloud)[before:]
        assert message["To"] == "ops@acme.example"
        assert message["Subject"] == "Expiry Watcher weekly digest: 23-29 Nov 2026"
        body = text_of(message)
        assert body.startswith("Pings sent: 11 (11 first alerts; 9 by Slack, 2 by email)\nAnswers: 0\n\n")
        assert "- Mail relay API key · U04IT00001 · 2 Dec 2026 (in 3 days) · waiting" in body
        assert message.get_body(preferencelist=("html",)) is not None


def test_slack_down_sends_the_digest_to_the_admin_by_email(cloud: LocalCloud) -> None:
    mirror_example(cloud).tick(date(2026, 11, 23))
    cloud.slack.fail("chat.postMessage", status=500, times=10)
    before = len(cloud.sent_emails())
    result = digest(cloud)
    assert (result["status"], result["via"], result["fell_back"]) == ("sent", "email", True)
    assert [m["To"] for m in emails(cloud)[before:]] == ["ops@acme.example"]


def test_a_failed_digest_gives_its_claim_back_so_the_retry_sends_it() -> None:
    # Slack is down and the admin has no email address: nothing can go out this time.
    with LocalCloud({**SETTINGS, "admin": "U04OPS0001", "digest_channel": CHANNEL}) as cloud:
        mirror_example(cloud).tick(date(2026, 11, 23))
        cloud.slack.fail("chat.postMessage", status=500, times=1)  # never retried: it may have posted
        with pytest.raises(DigestError, match="the digest was not posted and there is no email admin"):
            digest(cloud)
        # Lambda's retry a minute later: Slack is back, and the week is not marked as sent.
        result = digest(cloud, at=time(18, 1))
        assert (result["status"], result["via"]) == ("sent", "slack")


def test_nowhere_to_send_is_said_in_plain_words() -> None:
    with LocalCloud({**SETTINGS, "admin": "U04OPS0001"}) as cloud:
        cloud.without_slack()
        mirror_example(cloud)
        with pytest.raises(DigestError, match=r"set /ew/config/digest_channel .* or an email address"):
            digest(cloud)


def test_a_crashed_runs_claim_is_taken_over_once_its_lease_has_passed(cloud: LocalCloud) -> None:
    mirror_example(cloud)
    at = datetime.combine(SUNDAY, time(18), LONDON)
    # A run that claimed the week 30 s ago and died (timeout) before posting.
    StateTable(cloud.dynamodb, NAMES["EW_STATE_TABLE"]).claim(
        "digest", SUNDAY.isoformat(), {"status": "sending"}, at - timedelta(seconds=30), lease=LEASE
    )
    # While it may still be running, a duplicate fails (Lambda retries it later) and posts nothing.
    with pytest.raises(Busy):
        digest(cloud)
    assert cloud.slack.messages() == []
    # Lambda's retry after the lease has passed takes the claim over and posts once; later, nothing.
    assert digest(cloud, wall=at + LEASE)["status"] == "sent"
    assert digest(cloud, wall=at + LEASE + timedelta(minutes=2))["status"] == "duplicate"
    assert len(cloud.slack.messages()) == 1


def test_reading_the_week_costs_pages_not_items(cloud: LocalCloud) -> None:
    sim = mirror_example(cloud)
    replay(
        sim,
        date(2026, 11, 9),
        SUNDAY,
        [ScriptedAck(date(2026, 11, 24), "ACME-002", "renew", date(2027, 12, 15), 1)],
    )
    calls: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(boto3.client("dynamodb"), name)

    reader = ActivityReader(
        Counting(), NAMES["EW_PINGS_TABLE"], NAMES["EW_ARCHIVE_TABLE"], NAMES["EW_ACK_TABLE"], page_size=5
    )
    pings, acks = reader.pings(), reader.acks()
    rows = {
        t: cloud.dynamodb.scan(TableName=NAMES[t])["Count"]
        for t in ("EW_PINGS_TABLE", "EW_ARCHIVE_TABLE", "EW_ACK_TABLE")
    }
    assert len(pings) == rows["EW_PINGS_TABLE"] + rows["EW_ARCHIVE_TABLE"] > 20
    assert len(acks) == rows["EW_ACK_TABLE"] == 1
    assert set(calls) - {"meta"} == {"scan"}  # meta: the plain JSON reader's hooks, no request
    assert reader.requests <= sum(math.ceil(n / 5) + 1 for n in rows.values())


def test_the_event_fixture_drives_the_handler(cloud: LocalCloud) -> None:
    import json

    mirror_example(cloud)
    event = json.loads((EXAMPLE.parents[1] / "events" / "digest" / "scheduled.json").read_text())
    result = load_handler("digest").handler(event, LambdaContext("ew-digest"))
    assert (result["status"], result["week_end"]) == ("sent", "2026-11-29")
