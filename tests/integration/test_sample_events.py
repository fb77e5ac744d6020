"""The Function URL events in events/ack_handler/ are what ack-handler receives from Slack (payload format
2.0: signed headers, the form body base64-encoded), so they run through the handler as they are, as
`sam local invoke AckHandlerFunction -e events/ack_handler/block_actions.json` would send them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from ew import runtime
from ew_local.cloud import SIGNING_SECRET, LambdaContext, LocalCloud
from ew_local.slack_payloads import slack_payload
from opskit.slack import verify_request

EVENTS = Path(__file__).resolve().parents[2] / "events"
SETTINGS = {"timezone": "Europe/London", "admin": "ops@acme.example"}
SHEET = (
    "item_id,item,category,expiry_date,owner,owner_email,renewal_term,last_renewed\n"
    "ACME-002,Public liability insurance,insurance,2026-12-15,U04FIN0001,li@acme.example,1 year,2025-12-15\n"
)
SLACK_EVENTS = ["ack_handler/block_actions.json", "ack_handler/view_submission.json"]


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def sent_at(request: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(request["headers"]["x-slack-request-timestamp"]), UTC)


def invoke(cloud: LocalCloud, request: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = cloud.ack_handler(request, LambdaContext("ew-ack-handler"))
    cloud.run_tasks()
    return answer


@pytest.mark.parametrize("name", SLACK_EVENTS)
def test_each_event_is_a_signed_function_url_request_from_slack(name: str) -> None:
    request = event(name)
    assert (request["version"], request["requestContext"]["http"]["method"]) == ("2.0", "POST")
    assert request["rawPath"] == request["requestContext"]["http"]["path"] == "/slack/actions"
    assert request["isBase64Encoded"] is True  # a form body reaches a Function URL base64-encoded
    # Signed over the decoded body with the local runner's signing secret: edit the payload, sign again.
    body = slack_payload(request)
    assert body["type"] in ("block_actions", "view_submission")
    verify_request(
        base64.b64decode(request["body"]), request["headers"], SIGNING_SECRET, sent_at(request).timestamp()
    )


@pytest.mark.parametrize("name", SLACK_EVENTS)
def test_replayed_later_an_event_is_refused_as_stale(cloud: LocalCloud, name: str) -> None:
    answer = invoke(cloud, event(name))
    assert (answer["statusCode"], answer["body"]) == (401, "stale timestamp")
    assert cloud.store.load()[1] == []


def test_at_the_moment_slack_sent_them_the_click_and_the_renewal_act(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cloud.dispatch(event("dispatch/first_alert.json"))["status"] == "sent"
    click, submitted = event("ack_handler/block_actions.json"), event("ack_handler/view_submission.json")

    monkeypatch.setattr(runtime, "utc_now", lambda: sent_at(click))
    assert invoke(cloud, click)["statusCode"] == 200
    monkeypatch.setattr(runtime, "utc_now", lambda: sent_at(submitted))
    answer = invoke(cloud, submitted)

    assert (answer["statusCode"], json.loads(answer["body"])) == (200, {"response_action": "clear"})
    assert [(a.action, a.by, a.new_expiry) for a in cloud.store.load()[1]] == [
        ("ack_only", "U04FIN0001", None),
        ("renew", "U04FIN0001", date(2027, 12, 15)),
    ]
