"""Clicks through the real ack-handler behind its Function URL: Slack buttons and modals signed with
the signing secret, email links, and the renewal written back to the (fake) Google Sheet."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from alerts import alert, email_links, sent_card, token
from slack_sdk.signature import SignatureVerifier

from ew import runtime
from ew.audit import AuditLog
from ew.chain import PingRef
from ew.click_rules import ModalContext
from ew_local.cloud import LINK_SECRET, SIGNING_SECRET, LocalCloud
from ew_local.slack_payloads import button_click, modal_submission, slack_payload
from opskit.signed_links import sign

EVENTS = Path(__file__).resolve().parents[2] / "events"
SETTINGS = {"timezone": "Europe/London", "admin": "ops@acme.example"}
SHEET = (
    "item_id,item,category,expiry_date,owner,owner_email,renewal_term,last_renewed\n"
    "ACME-002,Public liability insurance,insurance,2026-12-15,U04FIN0001,li@acme.example,1 year,2025-12-15\n"
)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def button(message: dict[str, Any], action_id: str, user: str = "U04FIN0001") -> dict[str, Any]:
    return button_click(message, action_id, user)


def submission(view: dict[str, Any], picked: str | None, user: str = "U04FIN0001") -> dict[str, Any]:
    return modal_submission(view, picked, user)


def opened_view(cloud: LocalCloud) -> dict[str, Any]:
    [call] = cloud.slack.calls("views.open")
    return call.params["view"]


def acks(cloud: LocalCloud) -> list[tuple[str, str]]:
    return [(a.item_id, a.action) for a in cloud.store.load()[1]]


def audit(cloud: LocalCloud) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    log = AuditLog(cloud.dynamodb, "ew-audit")
    return [(e.action, e.by_user, e.before, e.after) for e in log.for_item("ACME-002")]


def sheet_row(cloud: LocalCloud) -> dict[str, str]:
    header, *rows = cloud.sheet_rows()
    return dict(zip(header, rows[0], strict=False))


# -- Slack buttons -----------------------------------------------------------------------------------


def test_ack_only_acts_in_one_tap_and_the_buttons_give_way_to_who_did_it(cloud: LocalCloud) -> None:
    message = alert(cloud)
    answer = cloud.slack_click(button(message, "ack_only"))
    assert answer["statusCode"] == 200
    assert acks(cloud) == [("ACME-002", "ack_only")]
    assert audit(cloud) == [("ack_only", "U04FIN0001", {"acknowledged": False}, {"acknowledged": True})]
    updated = cloud.slack.message(message["channel"], message["ts"])
    assert updated is not None
    assert [b["type"] for b in updated["blocks"]] == ["section", "context", "context"]
    assert re.fullmatch(r":ok_hand: Acknowledged by <@U04FIN0001> on \d+ \w{3} \d{4}\.", updated["text"])


def test_a_double_click_and_a_slack_retry_act_once(cloud: LocalCloud) -> None:
    message = alert(cloud)
    cloud.slack_click(button(message, "ack_only"))
    cloud.slack_click(button(message, "ack_only", user="U04OTHER01"))
    cloud.slack_click(button(message, "ack_only"), retry=1)
    assert acks(cloud) == [("ACME-002", "ack_only")]
    assert len(audit(cloud)) == 1
    updated = cloud.slack.message(message["channel"], message["ts"])
    assert updated is not None and "<@U04FIN0001>" in updated["text"]  # the first answer stands


def test_renew_opens_a_prefilled_modal_then_renews_archives_and_writes_the_sheet(cloud: LocalCloud) -> None:
    message = alert(cloud)
    assert cloud.slack_click(button(message, "renew"))["statusCode"] == 200
    view = opened_view(cloud)
    assert view["callback_id"] == "renew" and view["title"]["text"] == "Renew"
    picker = view["blocks"][1]["element"]
    assert (picker["type"], picker["initial_date"]) == ("datepicker", "2027-12-15")  # expiry + 1 year
    assert acks(cloud) == []  # opening the modal changes nothing

    answer = cloud.slack_click(submission(view, "2027-12-15"))
    assert json.loads(answer["body"]) == {"response_action": "clear"}
    assert acks(cloud) == [("ACME-002", "renew")]
    assert cloud.store.load()[0] == []  # the chain went to the archive
    archived = cloud.dynamodb.scan(TableName="ew-pings-archive")["Items"]
    assert [a["chain_key"]["S"] for a in archived] == ["2026-12-15#0000"]
    updated = cloud.slack.message(message["channel"], message["ts"])
    assert updated is not None and "new expiry 15 Dec 2027" in updated["text"]
    # The card keeps its text and details; only the buttons gave way to the answer.
    assert [b["type"] for b in updated["blocks"]] == ["section", "context", "context"]
    assert updated["blocks"][0] == message["blocks"][0]
    row = sheet_row(cloud)
    london_today = datetime.now(ZoneInfo("Europe/London")).date().isoformat()
    assert (row["expiry_date"], row["last_renewed"]) == ("2027-12-15", london_today)
    assert sorted(a[0] for a in audit(cloud)) == ["renew", "sheet_write"]


def test_snooze_validates_the_date_in_the_modal(cloud: LocalCloud) -> None:
    message = alert(cloud)
    cloud.slack_click(button(message, "snooze"))
    view = opened_view(cloud)
    assert view["callback_id"] == "snooze"
    past = cloud.slack_click(submission(view, "2020-01-01"))
    body = json.loads(past["body"])
    assert body["response_action"] == "errors"
    assert body["errors"]["date"].startswith("The snooze date must be after today")
    assert acks(cloud) == []
    later = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    assert json.loads(cloud.slack_click(submission(view, later))["body"]) == {"response_action": "clear"}
    [snooze] = cloud.store.load()[1]
    assert (snooze.action, snooze.snooze_until) == ("snooze", date.fromisoformat(later))


def test_a_second_renewal_of_the_same_cycle_is_refused_in_the_modal(cloud: LocalCloud) -> None:
    message = alert(cloud)
    cloud.slack_click(button(message, "renew"))
    view = opened_view(cloud)
    cloud.slack_click(submission(view, "2027-12-15"))
    again = json.loads(cloud.slack_click(submission(view, "2028-01-31", user="U04OTHER01"))["body"])
    assert again["response_action"] == "errors"
    assert again["errors"]["date"].startswith("Already answered. :white_check_mark: Renewed by <@U04FIN0001>")
    assert acks(cloud) == [("ACME-002", "renew")]


# -- forged requests change nothing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "status", "reason"),
    [
        ({"secret": "not-the-signing-secret"}, 401, "bad signature"),
        ({"age_seconds": 301}, 401, "stale timestamp"),
    ],
)
def test_forged_and_stale_requests_are_refused(
    cloud: LocalCloud, tamper: dict[str, Any], status: int, reason: str
) -> None:
    message = alert(cloud)
    answer = cloud.slack_click(button(message, "ack_only"), **tamper)
    assert (answer["statusCode"], answer["body"]) == (status, reason)
    assert acks(cloud) == [] and audit(cloud) == []
    assert cloud.slack.calls("chat.update") == []


def test_unsigned_and_oversized_requests_are_refused(cloud: LocalCloud) -> None:
    body = urlencode({"payload": json.dumps(slack_payload(fixture("ack_handler/block_actions.json")))})
    unsigned = cloud.http(
        "POST", "/slack/actions", body, {"content-type": "application/x-www-form-urlencoded"}
    )
    assert (unsigned["statusCode"], unsigned["body"]) == (401, "missing signature")
    huge = cloud.http("POST", "/slack/actions", "payload=" + "x" * 200_000, {})
    assert (huge["statusCode"], huge["body"]) == (413, "request body too large")
    assert acks(cloud) == []


def test_other_paths_and_methods_are_refused_and_nothing_is_read(cloud: LocalCloud) -> None:
    alert(cloud)
    before = len(cloud.slack.calls("chat.update"))
    assert cloud.http("GET", "/slack/actions")["statusCode"] == 405
    assert cloud.http("PUT", "/email", "t=x")["statusCode"] == 405
    assert cloud.http("POST", "/admin", "payload={}")["statusCode"] == 404
    assert acks(cloud) == [] and audit(cloud) == []
    assert len(cloud.slack.calls("chat.update")) == before


def test_a_base64_body_is_verified_on_its_decoded_bytes(cloud: LocalCloud) -> None:
    message = alert(cloud)
    payload = button(message, "ack_only")
    body = urlencode({"payload": json.dumps(payload)})
    ts = str(int(time.time()))
    headers = {
        "x-slack-request-timestamp": ts,
        "x-slack-signature": SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
        or "",
    }
    answer = cloud.http("POST", "/slack/actions", body, headers, base64_body=True)
    assert answer["statusCode"] == 200
    assert acks(cloud) == [("ACME-002", "ack_only")]


# -- the sheet write-back ----------------------------------------------------------------------------


def test_the_answer_never_waits_for_google(cloud: LocalCloud) -> None:
    message = alert(cloud)
    cloud.google.delay("values", 30)  # a Google that would blow Slack's 3 s if anything waited on it
    cloud.slack_click(button(message, "renew"))
    ctx = ModalContext.loads(opened_view(cloud)["private_metadata"])
    assert ctx.ref == PingRef("ACME-002", date(2026, 12, 15), 0)
    cloud.pending_tasks.clear()
    # Submit without running the queued asynchronous work: the answer is already complete.
    tasks_before = len(cloud.google.api_calls())
    answer = cloud.slack_click(submission(opened_view(cloud), "2027-12-15"), run_tasks=False)
    assert json.loads(answer["body"]) == {"response_action": "clear"}
    assert len(cloud.google.api_calls()) == tasks_before == 0
    assert [t["task"] for t in cloud.pending_tasks] == ["sheet_renewal"]


def test_a_row_changed_meanwhile_is_not_overwritten_and_the_clicker_is_told(cloud: LocalCloud) -> None:
    message = alert(cloud)
    cloud.slack_click(button(message, "renew"))
    view = opened_view(cloud)
    # Someone edits the row in the sheet between the click and the write-back.
    header, row = cloud.sheet_rows()
    row[header.index("expiry_date")] = "2027-01-31"
    cloud.google.add_sheet("local-registry-sheet", "Registry", [header, row])
    cloud.slack_click(submission(view, "2027-12-15"))
    assert sheet_row(cloud)["expiry_date"] == "2027-01-31"
    refused = [a for a in audit(cloud) if a[0] == "sheet_write_refused"]
    assert len(refused) == 1 and "expiry_date" in refused[0][3]["reason"]
    told = [
        m for m in cloud.slack.messages() if m["channel"] == "U04FIN0001" and "could not write" in m["text"]
    ]
    assert len(told) == 1


# -- email links -------------------------------------------------------------------------------------


def test_an_email_link_get_only_shows_a_page_and_the_post_acts_once(cloud: LocalCloud) -> None:
    links = email_links(cloud)
    page = cloud.http("GET", "/email", query={"t": token(links["Renew"])})
    assert page["statusCode"] == 200 and "text/html" in page["headers"]["Content-Type"]
    assert "Renew: Public liability insurance?" in page["body"]
    assert 'value="2027-12-15"' in page["body"] and 'method="post"' in page["body"]
    assert acks(cloud) == []  # a mail scanner's prefetch changes nothing

    form = urlencode({"t": token(links["Renew"]), "date": "2027-12-15"})
    done = cloud.http("POST", "/email", form, {"content-type": "application/x-www-form-urlencoded"})
    assert done["statusCode"] == 200 and '<h1 id="result">Done</h1>' in done["body"]
    assert "Renewed by li@acme.example" in done["body"]
    assert acks(cloud) == [("ACME-002", "renew")]
    assert sheet_row(cloud)["expiry_date"] == "2027-12-15"

    replay = cloud.http("POST", "/email", form, {"content-type": "application/x-www-form-urlencoded"})
    assert replay["statusCode"] == 409 and "This link was already used" in replay["body"]
    again = cloud.http("GET", "/email", query={"t": token(links["Renew"])})
    assert again["statusCode"] == 409
    assert acks(cloud) == [("ACME-002", "renew")]


def test_expired_and_tampered_links_get_a_clear_page(cloud: LocalCloud) -> None:
    links = email_links(cloud)
    past = datetime.now(UTC) - timedelta(days=1)
    claims = {"i": "ACME-002", "c": "2026-12-15", "n": 0, "a": "ack_only"}
    expired = sign(LINK_SECRET.encode(), claims, past)
    page = cloud.http("GET", "/email", query={"t": expired})
    assert page["statusCode"] == 410 and "This link has expired" in page["body"]
    tampered = token(links["Ack only"])[:-3] + "AAA"
    page = cloud.http("GET", "/email", query={"t": tampered})
    assert page["statusCode"] == 400 and "This link does not work" in page["body"]
    form = urlencode({"t": tampered})
    assert cloud.http("POST", "/email", form)["statusCode"] == 400
    assert acks(cloud) == []


def test_a_bad_date_on_the_email_page_is_shown_and_the_link_stays_usable(cloud: LocalCloud) -> None:
    links = email_links(cloud)
    form = {"t": token(links["Snooze"]), "date": "2020-01-01"}
    page = cloud.http("POST", "/email", urlencode(form))
    assert page["statusCode"] == 400 and "The snooze date must be after today" in page["body"]
    form["date"] = (datetime.now(UTC).date() + timedelta(days=5)).isoformat()
    assert cloud.http("POST", "/email", urlencode(form))["statusCode"] == 200
    assert acks(cloud) == [("ACME-002", "snooze")]


def test_verification_failures_are_counted_as_a_metric(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    cloud.slack_click(slack_payload(fixture("ack_handler/block_actions.json")), secret="forged")
    # On Lambda the EMF line goes to the log (stdout); the local cloud keeps stdout for the command.
    emitted = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"_aws"' in line]
    [metrics] = [m for m in emitted if "SlackVerificationFailures" in m]
    assert metrics["SlackVerificationFailures"] == [1.0]
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ExpiryWatcher"
    assert metrics["service"] == "expiry-watcher"


def test_without_a_link_secret_the_page_says_links_are_off(cloud: LocalCloud) -> None:
    import boto3

    boto3.client("secretsmanager").delete_secret(
        SecretId="ew/email/link-secret", ForceDeleteWithoutRecovery=True
    )
    runtime.reset()
    page = cloud.http("GET", "/email", query={"t": "anything"})
    assert page["statusCode"] == 503 and "Email links are switched off" in page["body"]
    assert acks(cloud) == []


# -- a renewal closes the cycle: its other cards can only say so ------------------------------------


def escalation_card(cloud: LocalCloud) -> dict[str, Any]:
    """The escalation of ACME-002 (ping 1) in the boss's DM, sent after the owner's first alert."""
    moved = fixture("dispatch/first_alert.json")
    moved["detail-type"] = "ew.escalate"
    moved["detail"]["move"].update(
        move="escalate", chain_index=1, recipient="U04BOSS001", escalated_from="U04FIN0001"
    )
    assert cloud.dispatch(moved)["status"] == "sent"
    return sent_card(cloud, "ACME-002", 1)


@pytest.mark.parametrize("action_id", ["ack_only", "snooze"])
def test_a_click_on_another_card_of_a_renewed_cycle_says_who_renewed_and_records_nothing(
    cloud: LocalCloud, action_id: str
) -> None:
    owners_card = alert(cloud)
    boss_card = escalation_card(cloud)
    cloud.slack_click(button(owners_card, "renew"))
    cloud.slack_click(submission(opened_view(cloud), "2027-12-15"))
    before = audit(cloud)

    answer = cloud.slack_click(button(boss_card, action_id, user="U04BOSS001"))
    assert answer["statusCode"] == 200
    shown = cloud.slack.message(boss_card["channel"], boss_card["ts"])
    assert shown is not None and shown["text"].startswith(":white_check_mark: Renewed by <@U04FIN0001>")
    assert "new expiry 15 Dec 2027" in shown["text"] and all(b["type"] != "actions" for b in shown["blocks"])
    assert len(cloud.slack.calls("views.open")) == 1  # the owner's Renew modal only: none for a closed cycle
    assert acks(cloud) == [("ACME-002", "renew")] and audit(cloud) == before


def test_an_email_link_of_a_renewed_cycle_says_who_renewed_and_records_nothing(cloud: LocalCloud) -> None:
    owners_card = alert(cloud)
    cloud.slack_click(button(owners_card, "renew"))
    cloud.slack_click(submission(opened_view(cloud), "2027-12-15"))
    claims = {"i": "ACME-002", "c": "2026-12-15", "n": 0, "a": "ack_only", "b": "li@acme.example"}
    token = sign(LINK_SECRET.encode(), claims, datetime.now(UTC) + timedelta(days=14))
    page = cloud.http("POST", "/email", urlencode({"t": token}))
    assert page["statusCode"] == 200 and '<h1 id="result">Already answered</h1>' in page["body"]
    assert "Renewed by U04FIN0001" in page["body"]
    assert acks(cloud) == [("ACME-002", "renew")]
