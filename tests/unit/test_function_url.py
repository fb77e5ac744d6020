"""A Function URL request read from the event Lambda delivers, routed, and answered."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from opskit.function_url import UrlRequest, response, route
from opskit.http_answer import HttpAnswer, Malformed, Refused

EVENTS = Path(__file__).resolve().parents[2] / "events" / "ack_handler"


def event(method: str, path: str, body: str = "", b64: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": path,
        "headers": {"Content-Type": "text/plain", "x-slack-signature": "v0=abc"},
        "requestContext": {"http": {"method": method, "path": path}},
        "body": body,
        "isBase64Encoded": b64,
        **extra,
    }


ROUTES = {
    ("POST", "/slack/actions"): lambda request: HttpAnswer(200, request.raw_body(100).decode()),
    ("GET", "/email"): lambda request: HttpAnswer(200, request.query.get("t", ""), "text/html"),
}


def test_a_real_slack_event_is_read_as_delivered() -> None:
    real = json.loads(next(EVENTS.glob("*.json")).read_text())
    request = UrlRequest.from_event(real)
    assert (request.method, request.path) == ("POST", "/slack/actions")
    assert request.headers["x-slack-signature"].startswith("v0=")
    assert request.raw_body(128 * 1024).startswith(b"payload=")


def test_routes_by_method_and_path() -> None:
    body = base64.b64encode(b"hello").decode()
    assert route(UrlRequest.from_event(event("POST", "/slack/actions", body, True)), ROUTES).body == "hello"
    page = route(UrlRequest.from_event(event("GET", "/email", queryStringParameters={"t": "a,b"})), ROUTES)
    assert (page.body, page.content_type) == ("a", "text/html")


def test_an_unknown_path_is_404_and_a_wrong_method_405() -> None:
    assert route(UrlRequest.from_event(event("GET", "/admin")), ROUTES).status == 404
    assert route(UrlRequest.from_event(event("GET", "/slack/actions")), ROUTES).status == 405
    assert route(UrlRequest.from_event({}), ROUTES).status == 404  # not a Function URL event at all


def test_header_names_are_lower_case() -> None:
    assert UrlRequest.from_event(event("GET", "/email")).headers["content-type"] == "text/plain"


def test_a_body_past_the_limit_is_refused_before_decoding() -> None:
    with pytest.raises(Refused) as caught:
        UrlRequest.from_event(event("POST", "/slack/actions", "x" * 101)).raw_body(100)
    assert (caught.value.status, caught.value.reason) == (413, "request body too large")
    encoded = base64.b64encode(b"y" * 200).decode()
    with pytest.raises(Refused):
        UrlRequest.from_event(event("POST", "/slack/actions", encoded, True)).raw_body(100)


def test_a_body_that_is_not_base64_is_malformed() -> None:
    with pytest.raises(Malformed, match="not valid base64"):
        UrlRequest.from_event(event("POST", "/slack/actions", "%%%", True)).raw_body(100)


def test_the_response_is_a_function_url_response() -> None:
    assert response(HttpAnswer(401, "invalid signature", "text/plain")) == {
        "statusCode": 401,
        "headers": {"Content-Type": "text/plain"},
        "body": "invalid signature",
        "isBase64Encoded": False,
    }
