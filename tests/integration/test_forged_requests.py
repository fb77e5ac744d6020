"""Forged, malformed and stray requests at ack-handler's public Function URL, through the real handler on
the local cloud: each gets its status and one plain line (a page on the email routes), writes nothing
and calls Slack not at all. None of them may reach Lambda as an unhandled error (a 502 to the caller)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from alerts import alert

from ew_local.cloud import SIGNING_SECRET, LambdaContext, LocalCloud, function_url_event
from ew_local.slack_payloads import button_click

SHEET = (
    "item_id,item,category,expiry_date,owner,owner_email,renewal_term,last_renewed\n"
    "ACME-002,Public liability insurance,insurance,2026-12-15,U04FIN0001,li@acme.example,1 year,2025-12-15\n"
)
OWNER = "U04FIN0001"


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud({"timezone": "Europe/London", "admin": "ops@acme.example"}) as local:
        local.mirror(SHEET.encode())
        yield local


@pytest.fixture
def message(cloud: LocalCloud) -> dict[str, Any]:
    return alert(cloud)


def signature(body: bytes, timestamp: str) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()


def raw_request(
    cloud: LocalCloud,
    body: bytes,
    headers: dict[str, str],
    method: str = "POST",
    path: str = "/slack/actions",
) -> dict[str, Any]:
    """Exactly these bytes and headers, as the Function URL delivers them (body base64-encoded)."""
    event = function_url_event(method, path, base64.b64encode(body).decode(), {}, {}, True)
    event["headers"] = {"host": event["headers"]["host"], **headers}  # names as given, not lower-cased
    return cloud.ack_handler(event, LambdaContext("ew-ack-handler"))


def nothing_written_or_sent(cloud: LocalCloud) -> bool:
    tables = ("ew-state", "ew-ack", "ew-audit")
    rows = sum(len(cloud.dynamodb.scan(TableName=t)["Items"]) for t in tables)
    slack = [c.method for c in cloud.slack.calls() if c.method != "chat.postMessage"]  # the alert itself
    return rows == 0 and slack == []


def ack_body(message: dict[str, Any], change: dict[str, Any] | None = None) -> str:
    payload = button_click(message, "ack_only", OWNER)
    payload["actions"][0].update(change or {})
    return urlencode({"payload": json.dumps(payload)})


# -- not signed by Slack: 401, whatever the headers hold ----------------------------------------------


@pytest.mark.parametrize("timestamp", ["\u00b2", "9" * 400, "-5", "1.5e9", "1764590400,1764590400"])
def test_a_timestamp_that_is_not_unix_seconds_is_a_401_not_a_crash(
    cloud: LocalCloud, message: dict[str, Any], timestamp: str
) -> None:
    body = ack_body(message).encode()
    headers = {"x-slack-request-timestamp": timestamp, "x-slack-signature": signature(body, timestamp)}
    answer = raw_request(cloud, body, headers)
    assert (answer["statusCode"], answer["body"]) == (401, "bad timestamp")
    assert nothing_written_or_sent(cloud)


@pytest.mark.parametrize(
    ("body", "sign_over", "given"),
    [
        ("ack", "ack", "v0=\u00e9\u00e9"),  # not even ASCII
        ("ack", "other", None),  # a real signature, over another body
        ("ack", "ack", "twice"),  # the header twice: the Function URL joins them with a comma
        (b"\xff\xfe payload", b"\xff\xfe payload", None),  # not UTF-8, though its HMAC matches
    ],
    ids=["non-ascii signature", "signature over another body", "two signature headers", "not utf-8"],
)
def test_a_signature_that_is_not_slacks_is_a_401_not_a_crash(
    cloud: LocalCloud, message: dict[str, Any], body: Any, sign_over: Any, given: str | None
) -> None:
    texts = {"ack": ack_body(message), "other": urlencode({"payload": "{}"})}
    sent = texts[body].encode() if isinstance(body, str) else body
    signed = texts[sign_over].encode() if isinstance(sign_over, str) else sign_over
    timestamp = str(int(time.time()))
    good = signature(signed, timestamp)
    value = {None: good, "twice": f"{good},{good}"}.get(given) or str(given)
    answer = raw_request(cloud, sent, {"x-slack-request-timestamp": timestamp, "x-slack-signature": value})
    assert (answer["statusCode"], answer["body"]) == (401, "bad signature")
    assert nothing_written_or_sent(cloud)


def test_header_names_are_matched_whatever_their_case(cloud: LocalCloud, message: dict[str, Any]) -> None:
    body = ack_body(message).encode()
    timestamp = str(int(time.time()))
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-SLACK-SIGNATURE": signature(body, timestamp)}
    assert raw_request(cloud, body, headers)["statusCode"] == 200
    assert [a.action for a in cloud.store.load()[1]] == ["ack_only"]


# -- signed, but not what this app sends: 400 and the reason ----------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"i": "ACME-002", "c": "2026-12-15", "n": True}, "the button value does not name a ping"),
        ({"i": "ACME-002", "c": "2026-12-15", "n": 10**30}, "the button value does not name a ping"),
        ({"i": "A" * 1025, "c": "2026-12-15", "n": 0}, "the button value does not name a ping"),
    ],
    ids=["index true", "index 10**30", "item id too long for a key"],
)
def test_a_tampered_button_value_is_a_400(
    cloud: LocalCloud, message: dict[str, Any], value: dict[str, Any], reason: str
) -> None:
    answer = cloud.slack_request(ack_body(message, {"value": json.dumps(value)}))
    assert answer["statusCode"] == 400 and answer["body"].startswith(reason)
    assert nothing_written_or_sent(cloud)


def test_a_proposal_button_whose_value_is_not_a_proposal_id_is_a_400(
    cloud: LocalCloud, message: dict[str, Any]
) -> None:
    body = ack_body(message, {"action_id": "proposal_approve", "value": "x" * 3000})
    answer = cloud.slack_request(body)
    assert (answer["statusCode"], answer["body"]) == (400, "the button value does not name a proposal")
    assert nothing_written_or_sent(cloud)


def test_a_body_with_two_payloads_is_a_400_not_a_guess(cloud: LocalCloud, message: dict[str, Any]) -> None:
    renew = urlencode({"payload": json.dumps(button_click(message, "renew", OWNER))})
    answer = cloud.slack_request(ack_body(message) + "&" + renew)
    assert (answer["statusCode"], answer["body"]) == (400, "the body has more than one payload field")
    assert nothing_written_or_sent(cloud)


# -- routes and methods nobody serves -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/slack/actions", 405, "POST"),
        ("PUT", "/email", 405, "GET, POST"),
        ("DELETE", "/email", 405, "GET, POST"),
        ("GET", "/", 404, None),
        ("POST", "/slack/actions/", 404, None),
        ("POST", "/admin", 404, None),
    ],
)
def test_an_unknown_route_or_method_gets_one_plain_line(
    cloud: LocalCloud, method: str, path: str, status: int, allow: str | None
) -> None:
    answer = cloud.http(method, path, "payload=%7B%7D", {"x-slack-signature": "v0=00"})
    assert answer["statusCode"] == status
    assert answer["headers"]["Content-Type"].startswith("text/plain")
    assert answer["headers"].get("Allow") == allow
    expected = "not found" if status == 404 else f"method not allowed: {path} takes {allow}"
    assert answer["body"] == expected
    assert nothing_written_or_sent(cloud)
