"""A small adapter over slack_sdk: a client that cannot hang a Lambda, a gateway with one error type, and
Block Kit helpers. Generic on purpose: nothing here knows what the messages are about."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import (
    BackoffRetryIntervalCalculator,
    FixedValueRetryIntervalCalculator,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web import SlackResponse

from opskit.http_answer import Refused

MAX_RETRIES = 2  # the retry handlers share one attempt counter: at most 3 requests per call
MAX_RATE_LIMIT_WAIT = 5  # seconds; a longer Retry-After fails fast and the caller falls back (e.g. email)
MAX_REQUEST_BODY = 128 * 1024  # interactivity payloads are a few KB; anything far bigger is not Slack
SIGNATURE_WINDOW = 5 * 60  # seconds: Slack's own advice for the request timestamp
# The wait before retrying a connection error or a 500/503: ~0.25 s then ~0.5 s, plus up to 1 s of jitter.
# Read when a client is made, so tests can make it zero (tests/conftest.py) and an outage costs no waiting.
RETRY_INTERVAL: RetryIntervalCalculator = BackoffRetryIntervalCalculator(backoff_factor=0.25)
# Methods that post something new: sent twice, they post twice. After an answer that may mean Slack
# did it (a 5xx, a connection lost after the request went out, no answer in time) they are not retried;
# the caller decides (e.g. email instead). A 429 or a connection that never carried the request are
# safe to retry: Slack did nothing.
POSTING_METHODS = frozenset(
    {"chat.postMessage", "chat.postEphemeral", "chat.scheduleMessage", "chat.meMessage"}
)


class SlackError(Exception):
    """Base of the errors this module raises."""


class SlackUnavailable(SlackError):
    """Slack did not do what was asked: an API error, an HTTP error after retries, no connection, a timeout.

    `code` is Slack's error code (`channel_not_found`), `http_<status>`, `connection`, `timeout` or
    `invalid_request` (the request could not even be built, e.g. a token with a line break).
    The message is plain and never carries the token."""

    def __init__(self, method: str, code: str, detail: str):
        self.method = method
        self.code = code
        super().__init__(f"Slack {method} failed: {detail}")


@dataclass(frozen=True)
class PostedMessage:
    channel: str  # the channel Slack posted to: for a user ID this is the DM channel (D…), needed to update
    ts: str


class _BoundedRateLimitHandler(RateLimitErrorRetryHandler):
    """Honours Retry-After like the built-in handler, but only when the wait is short."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        assert response is not None  # the built-in check only retries a 429 response
        for name, values in response.headers.items():
            if name.lower() == "retry-after":
                value = values[0] if isinstance(values, list) else values
                return str(value).strip().isdigit() and int(value) <= MAX_RATE_LIMIT_WAIT
        return True  # no header: the built-in handler waits about a second


def _posts(request: HttpRequest) -> bool:
    return request.url.rstrip("/").rsplit("/", 1)[-1] in POSTING_METHODS


class _ConnectionRetry(ConnectionErrorRetryHandler):
    """Retries connection errors; for a posting method only those raised while the request was being
    sent (urllib wraps them in URLError), never one raised while waiting for the answer (a reset, a
    remote disconnect, a timeout): by then Slack may have posted."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        return not _posts(request) or isinstance(error, URLError)


class _RefusedConnectionRetry(ConnectionErrorRetryHandler):
    """Retries only a connection refused or reset before the request went out (urllib wraps those in
    URLError): Slack did nothing, and trying again costs no waiting. Not a connect timeout: that one
    already cost the whole `timeout`."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is None and isinstance(error, URLError) and not isinstance(error.reason, TimeoutError)


_AT_ONCE = FixedValueRetryIntervalCalculator(0)


class _ServerErrorRetry(ServerErrorRetryHandler):
    """Retries 500/503, except for a posting method: Slack may have posted before it failed."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return not _posts(request) and super()._can_retry(
            state=state, request=request, response=response, error=error
        )


def make_client(
    token: str,
    base_url: str | None = None,
    timeout: int = 5,
    retry_interval: RetryIntervalCalculator | None = None,
    *,
    quick: bool = False,
) -> WebClient:
    """A WebClient that retries connection errors, 429s and 500/503s at most MAX_RETRIES times in all,
    waiting `retry_interval` (default RETRY_INTERVAL) before a retry (a 429 waits its Retry-After), but
    never re-sends a posting method after an answer that may mean it was posted (POSTING_METHODS).

    `quick`: for a request someone is waiting on (Slack wants a click answered within 3 s), a call
    costs at most one `timeout`: only a connection that failed before carrying the request is tried
    again, at once; a 429 or a 5xx fails at once and the caller decides (e.g. retry it later, elsewhere)."""
    interval = retry_interval or RETRY_INTERVAL
    handlers: list[RetryHandler] = [
        _ConnectionRetry(max_retry_count=MAX_RETRIES, interval_calculator=interval),
        _BoundedRateLimitHandler(max_retry_count=MAX_RETRIES),
        _ServerErrorRetry(max_retry_count=MAX_RETRIES, interval_calculator=interval),
    ]
    if quick:
        handlers = [_RefusedConnectionRetry(max_retry_count=1, interval_calculator=_AT_ONCE)]
    url = base_url or WebClient.BASE_URL
    if not url.endswith("/"):  # WebClient joins the method name on without a separator
        url += "/"
    return WebClient(token=token, base_url=url, timeout=timeout, retry_handlers=handlers)


class SlackGateway:
    """The few Web API calls the systems make, each raising only SlackUnavailable."""

    def __init__(self, client: WebClient):
        self.client = client

    def post(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> PostedMessage:
        """Posts to a channel or, given a user ID, to that user's DM. `text` is the notification fallback."""
        send = self.client.chat_postMessage
        response = self._call("chat.postMessage", send, channel=channel, text=text, blocks=blocks)
        return PostedMessage(channel=response["channel"], ts=response["ts"])

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        self._call("chat.update", self.client.chat_update, channel=channel, ts=ts, text=text, blocks=blocks)

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        """Opens a modal and returns its view ID. Trigger IDs expire after 3 s: call this synchronously."""
        response = self._call("views.open", self.client.views_open, trigger_id=trigger_id, view=view)
        return str(response["view"]["id"])

    def user_id_for_email(self, email: str) -> str | None:
        """The Slack user with this email, or None when Slack knows nobody by it."""
        try:
            response = self._call("users.lookupByEmail", self.client.users_lookupByEmail, email=email)
        except SlackUnavailable as error:
            if error.code == "users_not_found":
                return None
            raise
        return str(response["user"]["id"])

    def _call(self, method: str, send: Callable[..., SlackResponse], **params: Any) -> SlackResponse:
        try:
            return send(**params)
        except SlackApiError as error:
            status = error.response.status_code
            if status == 200:
                data = error.response.data if isinstance(error.response.data, dict) else {}
                code = detail = str(data.get("error") or "unknown_error")
            else:
                code, detail = f"http_{status}", f"HTTP {status}"
            raise self._unavailable(method, code, detail) from self._safe_cause(error)
        except (SlackClientError, OSError, HTTPException) as error:
            reason = getattr(error, "reason", error)  # URLError wraps the socket error
            if isinstance(reason, TimeoutError):
                code, detail = "timeout", f"no answer within {self.client.timeout} s"
            else:
                code, detail = "connection", f"cannot reach Slack ({type(reason).__name__}: {reason})"
            raise self._unavailable(method, code, detail) from self._safe_cause(error)
        except ValueError as error:  # e.g. a token pasted with a line break: http.client quotes the header
            detail = f"the request could not be sent ({type(error).__name__})"
            raise self._unavailable(method, "invalid_request", detail) from self._safe_cause(error)

    def _unavailable(self, method: str, code: str, detail: str) -> SlackUnavailable:
        for form in self._token_forms():
            detail = detail.replace(form, "***")
        return SlackUnavailable(method, code, detail)

    def _safe_cause(self, error: Exception) -> Exception | None:
        """The original error, kept for tracebacks, unless its own text would leak the token."""
        text = f"{error!r} {error}"
        return None if any(form in text for form in self._token_forms()) else error

    def _token_forms(self) -> list[str]:
        """The token as it may appear in an error text: raw, or escaped in a str or bytes repr."""
        token = self.client.token
        return [token, repr(token)[1:-1], repr(token.encode())[2:-1]] if token else []


def verify_request(body: bytes, headers: Mapping[str, str], signing_secret: str, now: float) -> None:
    """Refuse (413/401) anything Slack did not sign in the last 5 minutes, before a byte of it is read.
    `headers` must be looked up case-insensitively or carry lower-case names (Function URLs do)."""
    if len(body) > MAX_REQUEST_BODY:
        raise Refused(413, "request body too large")
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise Refused(401, "missing signature")
    # Slack sends Unix seconds in ASCII digits. Anything else (a sign, a fraction, "²", a 400-digit
    # number, two headers joined by a comma) is refused here: int() or float() would raise on it.
    if not _SECONDS.fullmatch(timestamp):
        raise Refused(401, "bad timestamp")
    if abs(now - int(timestamp)) > SIGNATURE_WINDOW:
        raise Refused(401, "stale timestamp")
    # Slack signs UTF-8 text with an ASCII hex digest: other bytes are not Slack's, and the verifier
    # would raise on them (it decodes the body; compare_digest refuses non-ASCII text).
    if not signature.isascii():
        raise Refused(401, "bad signature")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(401, "bad signature") from None
    # The verifier checks the window again with its own clock: give it ours, so tests and replays agree.
    verifier = SignatureVerifier(signing_secret, clock=_FixedClock(now))
    if not verifier.is_valid(body, timestamp, signature):
        raise Refused(401, "bad signature")


_SECONDS = re.compile(r"[0-9]{1,12}")


class _FixedClock(Clock):
    def __init__(self, now: float):
        self._now = now

    def now(self) -> float:
        return self._now


def escape_mrkdwn(text: str) -> str:
    """Slack reads <, > and & as markup: user text must not turn into a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message_location(payload: dict[str, Any]) -> tuple[str, str]:
    """(channel id, message ts) of the message an interactivity payload came from ("" when absent)."""
    container = payload.get("container")
    container = container if isinstance(container, dict) else {}
    channel = payload.get("channel")
    channel_id = container.get("channel_id") or (channel.get("id") if isinstance(channel, dict) else "")
    return str(channel_id or ""), str(container.get("message_ts") or "")


def text_section(markdown: str) -> dict[str, Any]:
    return SectionBlock(text=MarkdownTextObject(text=markdown)).to_dict()


def context(markdown: str) -> dict[str, Any]:
    """A small grey line under a message, for who/when/where details."""
    return ContextBlock(elements=[MarkdownTextObject(text=markdown)]).to_dict()


def buttons_block(
    block_id: str, buttons: list[tuple[str, str, str]], style: dict[str, str] | None = None
) -> dict[str, Any]:
    """An actions block from (action_id, label, value) triples; `style` maps an action_id to
    `primary` or `danger`. The block_id comes back with every click, so put routing data in it."""
    style = style or {}
    elements = [
        ButtonElement(text=label, action_id=action_id, value=value, style=style.get(action_id))
        for action_id, label, value in buttons
    ]
    return ActionsBlock(block_id=block_id, elements=elements).to_dict()
