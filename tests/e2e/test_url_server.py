"""FunctionUrlServer maps HTTP to Function URL events and back as AWS does (no browser needed)."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from ew_local.cloud import LocalCloud
from ew_local.url_server import FunctionUrlServer, request_event, response_parts


def test_a_form_post_arrives_base64_encoded_and_text_bodies_do_not() -> None:
    form = request_event(
        "POST",
        "/email?a=1&a=2&b=",
        [("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", "x=1; y=2"), ("X-Y", "p")],
        b"t=abc&date=2028-01-31",
    )
    assert form["isBase64Encoded"] is True
    assert base64.b64decode(form["body"]) == b"t=abc&date=2028-01-31"
    assert (form["rawPath"], form["rawQueryString"]) == ("/email", "a=1&a=2&b=")
    assert form["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert form["cookies"] == ["x=1", "y=2"] and "cookie" not in form["headers"]
    assert form["headers"]["x-y"] == "p"
    text = request_event("POST", "/slack/actions", [("Content-Type", "application/json")], b'{"a":1}')
    assert (text["isBase64Encoded"], text["body"]) == (False, '{"a":1}')
    empty = request_event("GET", "/email", [], b"")
    assert (empty["isBase64Encoded"], empty["body"], empty["queryStringParameters"]) == (False, "", None)


def test_responses_are_mapped_as_lambda_maps_them() -> None:
    status, headers, body = response_parts(
        {
            "statusCode": 201,
            "headers": {"X-A": "1"},
            "cookies": ["c=1"],
            "body": "aGk=",
            "isBase64Encoded": True,
        }
    )
    assert (status, body) == (201, b"hi")
    assert ("X-A", "1") in headers and ("Set-Cookie", "c=1") in headers
    assert response_parts({"ok": True}) == (200, [("Content-Type", "application/json")], b'{"ok": true}')


@pytest.fixture
def server(cloud: LocalCloud) -> Iterator[FunctionUrlServer]:
    with FunctionUrlServer(cloud) as local:
        yield local


def fetch(url: str, data: bytes | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_requests_reach_the_real_handler_on_moto_from_the_server_thread(server: FunctionUrlServer) -> None:
    # The link secret lives in moto's Secrets Manager: a page at all proves the mock applies here.
    status, page = fetch(server.url + "/email?t=not-a-token")
    assert status == 400 and "This link does not work" in page
    status, page = fetch(server.url + "/email", b"t=not-a-token")
    assert status == 400 and "This link does not work" in page
    assert fetch(server.url + "/slack/actions", b"payload=x")[0] == 401
    assert server.errors == []


def test_a_handler_crash_is_a_502_as_on_lambda(
    server: FunctionUrlServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(event: dict[str, Any], context: object) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(server.cloud, "ack_handler", crash)
    assert fetch(server.url + "/email?t=x")[0] == 502
    assert [str(e) for e in server.errors] == ["boom"]
