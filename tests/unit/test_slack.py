import hashlib
import hmac
import socket
import time
import traceback
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from slack_sdk.http_retry import builtin_handlers, handler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from ew_local.fake_slack import FakeSlack
from opskit import slack as slack_module
from opskit.http_answer import Refused
from opskit.slack import (
    MAX_RETRIES,
    PostedMessage,
    SlackGateway,
    SlackUnavailable,
    buttons_block,
    context,
    make_client,
    text_section,
    verify_request,
)

TOKEN = "xoxb-secret-123"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(users={"ann@example.com": "U0ANN"}) as fake:
        yield fake


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Records the retry handlers' waits instead of sleeping, so retry tests take milliseconds."""
    waits: list[float] = []
    for module in (handler, builtin_handlers):
        monkeypatch.setattr(module, "time", SimpleNamespace(sleep=waits.append))
    return waits


def _gateway(url: str, timeout: int = 5) -> SlackGateway:
    return SlackGateway(make_client(TOKEN, base_url=url, timeout=timeout))


def _unavailable(call) -> SlackUnavailable:
    with pytest.raises(SlackUnavailable) as info:
        call()
    text = str(info.value) + "".join(traceback.format_exception(info.value))
    assert TOKEN not in text
    return info.value


def _free_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_make_client_bounds_retries_and_fixes_the_base_url():
    client = make_client(TOKEN, base_url="http://127.0.0.1:9/api", timeout=3)
    assert client.base_url == "http://127.0.0.1:9/api/"
    assert client.timeout == 3
    assert [h.max_retry_count for h in client.retry_handlers] == [MAX_RETRIES] * 3
    assert make_client(TOKEN).base_url == "https://slack.com/api/"


def test_the_retry_wait_can_be_chosen_and_defaults_to_the_module_backoff():
    fixed = FixedValueRetryIntervalCalculator(0.125)
    chosen = make_client(TOKEN, retry_interval=fixed)
    assert [getattr(h, "interval_calculator", None) for h in chosen.retry_handlers][::2] == [fixed, fixed]
    default = make_client(TOKEN).retry_handlers[0].interval_calculator
    assert default is slack_module.RETRY_INTERVAL  # (tests/conftest.py makes it zero for every test)


def test_post_sends_the_blocks_and_returns_the_dm_channel(fake):
    blocks = [
        text_section("*Lease* ends <https://x.test|soon>"),
        context("Reminder 1"),
        buttons_block("item:42", [("renew", "Renew", "42"), ("ack", "Ack only", "42")], {"renew": "primary"}),
    ]
    posted = _gateway(fake.url).post("U0ANN", "Lease ends soon", blocks)
    assert posted == PostedMessage(channel="D0ANN", ts=posted.ts)
    assert fake.messages() == [{"channel": "U0ANN", "text": "Lease ends soon", "blocks": blocks}]


def test_update_changes_the_posted_message(fake):
    gateway = _gateway(fake.url)
    posted = gateway.post("U0ANN", "Renew?", [text_section("Renew?")])
    gateway.update(posted.channel, posted.ts, "Renewed by Ann", [context("Renewed by Ann")])
    assert fake.message(posted.channel, posted.ts)["text"] == "Renewed by Ann"


def test_open_view_returns_the_view_id(fake):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Snooze"}, "blocks": []}
    view_id = _gateway(fake.url).open_view("1.2.abc", view)
    assert fake.calls("views.open")[0].params == {"trigger_id": "1.2.abc", "view": view}
    assert view_id.startswith("V")


def test_user_id_for_email_found_missing_and_failing(fake):
    gateway = _gateway(fake.url)
    assert gateway.user_id_for_email("ann@example.com") == "U0ANN"
    assert gateway.user_id_for_email("nobody@example.com") is None
    fake.fail("users.lookupByEmail", error="invalid_auth")
    assert _unavailable(lambda: gateway.user_id_for_email("ann@example.com")).code == "invalid_auth"


def test_an_ok_false_answer_raises_slack_unavailable_without_retrying(fake, sleeps):
    fake.fail("chat.postMessage", error="channel_not_found")
    error = _unavailable(lambda: _gateway(fake.url).post("C0GONE", "x", []))
    assert (error.method, error.code) == ("chat.postMessage", "channel_not_found")
    assert str(error) == "Slack chat.postMessage failed: channel_not_found"
    assert len(fake.calls()) == 1


def test_a_503_then_success_is_retried_for_a_call_that_posts_nothing(fake, sleeps):
    fake.fail("users.lookupByEmail", status=503)
    assert _gateway(fake.url).user_id_for_email("ann@example.com") == "U0ANN"
    assert len(fake.calls("users.lookupByEmail")) == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_a_post_is_never_resent_after_a_5xx_as_slack_may_have_posted_it(fake, sleeps, status):
    fake.fail("chat.postMessage", status=status)
    error = _unavailable(lambda: _gateway(fake.url).post("C0OPS", "x", []))
    assert (error.code, str(error)) == (f"http_{status}", f"Slack chat.postMessage failed: HTTP {status}")
    assert len(fake.calls("chat.postMessage")) == 1
    assert sleeps == []


def test_a_post_is_never_resent_after_the_connection_drops_unanswered(fake, sleeps):
    fake.drop("chat.postMessage")  # Slack posts it, then the answer never comes
    error = _unavailable(lambda: _gateway(fake.url).post("U0ANN", "x", []))
    assert error.code == "connection"
    assert len(fake.calls("chat.postMessage")) == 1
    # A lookup posts nothing: the same drop is retried.
    fake.drop("users.lookupByEmail")
    assert _gateway(fake.url).user_id_for_email("ann@example.com") == "U0ANN"
    assert len(fake.calls("users.lookupByEmail")) == 2


def test_a_rate_limited_post_is_retried_as_slack_posted_nothing(fake, sleeps):
    fake.rate_limit("chat.postMessage", retry_after=1)
    _gateway(fake.url).post("C0OPS", "x", [])
    assert len(fake.calls("chat.postMessage")) == 2


def test_a_429_is_retried_after_retry_after(fake, sleeps):
    fake.rate_limit("chat.update", retry_after=1)
    gateway = _gateway(fake.url)
    posted = gateway.post("C0OPS", "x", [])
    gateway.update(posted.channel, posted.ts, "y", [])
    assert len(fake.calls("chat.update")) == 2
    assert sleeps[0] >= 1


def test_a_long_retry_after_fails_at_once_rather_than_hang_the_lambda(fake, sleeps):
    fake.rate_limit("chat.postMessage", retry_after=60)
    assert _unavailable(lambda: _gateway(fake.url).post("C0OPS", "x", [])).code == "http_429"
    assert (len(fake.calls()), sleeps) == (1, [])


def test_persistent_500_gives_up_after_the_bounded_retries(fake, sleeps):
    fake.fail("users.lookupByEmail", status=500, times=10)
    error = _unavailable(lambda: _gateway(fake.url).user_id_for_email("ann@example.com"))
    assert (error.code, str(error)) == ("http_500", "Slack users.lookupByEmail failed: HTTP 500")
    assert len(fake.calls()) == 1 + MAX_RETRIES == 3


def test_connection_refused_is_retried_even_for_a_post_then_raises_quickly(sleeps):
    # Refused: the request never left, so re-sending cannot post twice.
    started = time.monotonic()
    error = _unavailable(lambda: _gateway(_free_port_url()).post("C0OPS", "x", []))
    assert error.code == "connection"
    assert "Connection refused" in str(error)
    assert len(sleeps) == MAX_RETRIES
    assert time.monotonic() - started < 3  # not the 5 s timeout, three times over


def test_a_slow_answer_is_a_timeout(fake, sleeps):
    fake.delay("chat.postMessage", 1.3)
    error = _unavailable(lambda: _gateway(fake.url, timeout=1).post("C0OPS", "x", []))
    assert (error.code, str(error)) == ("timeout", "Slack chat.postMessage failed: no answer within 1 s")


# -- a quick client: for a request someone waits on (a click: Slack's 3 s) -----------------------------


def _quick(url: str) -> SlackGateway:
    return SlackGateway(make_client(TOKEN, base_url=url, timeout=2, quick=True))


def test_a_quick_client_never_waits_for_a_retry_after(fake, sleeps):
    fake.rate_limit("chat.update", retry_after=3)
    assert _unavailable(lambda: _quick(fake.url).update("C0OPS", "1.1", "y", [])).code == "http_429"
    assert (len(fake.calls("chat.update")), sleeps) == (1, [])


@pytest.mark.parametrize("status", [500, 503])
def test_a_quick_client_does_not_retry_a_5xx(fake, sleeps, status):
    fake.fail("views.open", status=status)
    assert _unavailable(lambda: _quick(fake.url).open_view("T1", {})).code == f"http_{status}"
    assert (len(fake.calls("views.open")), sleeps) == (1, [])


def test_a_quick_client_tries_a_refused_connection_once_more_at_once(sleeps):
    started = time.monotonic()
    assert _unavailable(lambda: _quick(_free_port_url()).update("C0OPS", "1.1", "y", [])).code == "connection"
    assert sleeps == [0] and time.monotonic() - started < 1


def test_the_token_is_kept_out_even_when_the_original_error_quotes_it(fake):
    token = "xoxb-secret-123\nnext-line"  # a secret pasted with a line break: an invalid header value
    gateway = SlackGateway(make_client(token, base_url=fake.url))
    with pytest.raises(SlackUnavailable) as info:
        gateway.post("C0OPS", "x", [])
    text = "".join(traceback.format_exception(info.value))
    assert "xoxb-secret-123" not in text
    assert info.value.code == "invalid_request"
    assert fake.calls() == []


def test_block_helpers_build_block_kit_dicts():
    assert text_section("*hi*") == {"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}
    assert context("small") == {"type": "context", "elements": [{"type": "mrkdwn", "text": "small"}]}
    block = buttons_block("b1", [("go", "Go", "v1"), ("stop", "Stop", "v2")], {"stop": "danger"})
    assert block["type"] == "actions" and block["block_id"] == "b1"
    assert [(e["action_id"], e["text"]["text"], e["value"], e.get("style")) for e in block["elements"]] == [
        ("go", "Go", "v1", None),
        ("stop", "Stop", "v2", "danger"),
    ]


# -- verify_request: anything Slack did not sign is a 401, never a crash ------------------------------

SECRET = "local-signing-secret"
NOW = 1_800_000_000


def _signed(body: bytes, timestamp: str) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()


def _refusal(body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    with pytest.raises(Refused) as refused:
        verify_request(body, headers, SECRET, NOW)
    return refused.value.status, refused.value.reason


def test_a_request_slack_signed_now_passes():
    body = b"payload=%7B%7D"
    headers = {"x-slack-request-timestamp": str(NOW), "x-slack-signature": _signed(body, str(NOW))}
    verify_request(body, headers, SECRET, NOW)


@pytest.mark.parametrize(
    "timestamp",
    ["\u00b2", "-5", "1.5", f" {NOW}", "9" * 400, f"{NOW},{NOW}", "\u0661\u0662\u0663", "0x10", "1e9"],
)
def test_a_timestamp_that_is_not_unix_seconds_is_refused_as_such(timestamp):
    body = b"payload=%7B%7D"
    headers = {"x-slack-request-timestamp": timestamp, "x-slack-signature": _signed(body, timestamp)}
    assert _refusal(body, headers) == (401, "bad timestamp")


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_outside_five_minutes_either_way_is_stale(offset):
    body, timestamp = b"payload=%7B%7D", str(NOW + offset)
    headers = {"x-slack-request-timestamp": timestamp, "x-slack-signature": _signed(body, timestamp)}
    assert _refusal(body, headers) == (401, "stale timestamp")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-slack-request-timestamp": str(NOW)},
        {"x-slack-signature": "v0=ab"},
        {"x-slack-request-timestamp": str(NOW), "x-slack-signature": ""},
    ],
)
def test_a_missing_header_is_a_missing_signature(headers):
    assert _refusal(b"payload=%7B%7D", headers) == (401, "missing signature")


def test_a_signature_with_non_ascii_characters_is_a_bad_signature():
    headers = {"x-slack-request-timestamp": str(NOW), "x-slack-signature": "v0=\u00e9"}
    assert _refusal(b"payload=%7B%7D", headers) == (401, "bad signature")


def test_a_body_that_is_not_utf8_is_a_bad_signature_even_when_its_hmac_matches():
    body = b"\xff\xfe payload"
    headers = {"x-slack-request-timestamp": str(NOW), "x-slack-signature": _signed(body, str(NOW))}
    assert _refusal(body, headers) == (401, "bad signature")


def test_two_signature_headers_joined_by_the_function_url_are_a_bad_signature():
    body = b"payload=%7B%7D"
    good = _signed(body, str(NOW))
    headers = {"x-slack-request-timestamp": str(NOW), "x-slack-signature": f"{good},{good}"}
    assert _refusal(body, headers) == (401, "bad signature")
