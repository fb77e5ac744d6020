"""A local stand-in for the Slack Web API, reached by the real slack_sdk WebClient over HTTP (like
bolt-python's mock Web API server), so tests and the local runner exercise the real client, its
serialisation and its retry handlers. Faults (ok:false, 5xx, 429, slowness, a connection dropped after
the call was done) can be scripted per method.

    with FakeSlack(users={"ann@example.com": "U0ANN"}) as fake:
        client = WebClient(token="xoxb-test", base_url=fake.url)
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ew_local.loopback import LoopbackServer

Params = dict[str, Any]
_DROP = -1  # the fault status of drop(): no HTTP answer at all

# Fields the WebClient sends as JSON strings inside form bodies; decoded so tests can inspect them.
_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")


@dataclass(frozen=True)
class Call:
    method: str
    params: Params
    headers: dict[str, str]


@dataclass
class _Fault:
    status: int
    error: str
    times: int
    retry_after: int | None = None


class FakeSlack(LoopbackServer):
    def __init__(self, users: dict[str, str] | None = None, *, token: str | None = None):
        """`users` maps email to user ID for users.lookupByEmail. With `token`, any other bearer token gets
        `invalid_auth`; without it, any bearer token is accepted."""
        super().__init__()
        self.handler = _Handler
        self.users = {email.lower(): user for email, user in (users or {}).items()}
        self.token = token
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, float] = {}
        self._messages: dict[tuple[str, str], Params] = {}  # (channel, ts) -> current message
        self._views: dict[str, Params] = {}
        self._counter = 0

    @property
    def url(self) -> str:
        """The base_url for WebClient (with the trailing slash it needs)."""
        return self.root + "/"

    # -- inspection ------------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self) -> list[Params]:
        """The params of every chat.postMessage received, in order (failed ones included)."""
        return [c.params for c in self.calls("chat.postMessage")]

    def message(self, channel: str, ts: str) -> Params | None:
        """A posted message as it stands now, after any chat.update."""
        with self._lock:
            return self._messages.get((channel, ts))

    def posted(self) -> list[tuple[str, Params]]:
        """(channel, message as it stands now) of every message posted, in the order posted."""
        with self._lock:
            return [(channel, dict(message)) for (channel, _), message in self._messages.items()]

    def in_channel(self, channel: str) -> list[Params]:
        """The messages posted to `channel` as they stand now (after any chat.update), oldest first,
        each with its "ts"."""
        with self._lock:
            found = [copy.deepcopy(m) for (where, _), m in self._messages.items() if where == channel]
        return sorted(found, key=lambda message: float(message["ts"]))

    def reset(self) -> None:
        """Forgets calls, scripted faults, delays, messages and views; keeps the user directory."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._delays.clear()
            self._messages.clear()
            self._views.clear()

    # -- scripting -------------------------------------------------------------------------------

    def add_user(self, email: str, user_id: str) -> None:
        with self._lock:
            self.users[email.lower()] = user_id

    def fail(self, method: str, error: str = "internal_error", status: int = 200, times: int = 1) -> None:
        """The next `times` calls of `method` answer `{"ok": false, "error": error}` with HTTP `status`."""
        with self._lock:
            self._faults.setdefault(method, []).append(_Fault(status, error, times))

    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        with self._lock:
            self._faults.setdefault(method, []).append(_Fault(429, "ratelimited", times, retry_after))

    def drop(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` are carried out (a message is posted), then the connection
        is closed without an answer: the client cannot tell whether Slack did it."""
        with self._lock:
            self._faults.setdefault(method, []).append(_Fault(_DROP, "", times))

    def delay(self, method: str, seconds: float) -> None:
        """Every later call of `method` waits `seconds` before answering (until reset)."""
        with self._lock:
            self._delays[method] = seconds

    # -- the API ---------------------------------------------------------------------------------

    def _handle(self, method: str, params: Params, headers: dict[str, str]) -> tuple[int, Params, int | None]:
        """Returns (HTTP status, or _DROP for no answer at all; JSON body; Retry-After or None)."""
        with self._lock:
            self._calls.append(Call(method, params, headers))
            delay = self._delays.get(method, 0.0)
            fault = self._take_fault(method)
        if delay:
            time.sleep(delay)
        if fault is not None and fault.status != _DROP:
            return fault.status, {"ok": False, "error": fault.error}, fault.retry_after
        auth = headers.get("authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, None
        if self.token is not None and token != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}, None
        handler = self._methods().get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, None
        with self._lock:
            body = handler(params)
        return (_DROP if fault else 200), body, None

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    def _methods(self) -> dict[str, Callable[[Params], Params]]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "conversations.open": self._conversations_open,
            "users.lookupByEmail": self._lookup_by_email,
            "views.open": self._views_open,
            "views.update": self._views_update,
        }

    def _next(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter:06d}"

    def _auth_test(self, params: Params) -> Params:
        return {"ok": True, "url": "https://fake.slack.com/", "team": "Fake", "team_id": "T0FAKE",
                "user": "bot", "user_id": "U0BOT", "bot_id": "B0BOT"}  # fmt: skip

    def _post_message(self, params: Params) -> Params:
        channel = _dm_channel(str(params.get("channel", "")))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = "1700000000." + self._next("")  # unique and increasing, like Slack's
        message = {"type": "message", "user": "U0BOT", "bot_id": "B0BOT", "ts": ts,
                   "text": params.get("text", ""), "blocks": params.get("blocks", [])}  # fmt: skip
        self._messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, params: Params) -> Params:
        # Strict like Slack: the channel must be the one postMessage returned (D… for a DM), not a user ID.
        key = (str(params.get("channel", "")), str(params.get("ts", "")))
        if key not in self._messages:
            return {"ok": False, "error": "message_not_found"}
        message = self._messages[key]
        message.update({k: params[k] for k in ("text", "blocks") if k in params})
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message["text"], "message": message}

    def _post_ephemeral(self, params: Params) -> Params:
        if not params.get("channel") or not params.get("user"):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "message_ts": "1700000000." + self._next("")}

    def _conversations_open(self, params: Params) -> Params:
        users = str(params.get("users", "")).split(",")
        if not users[0]:
            return {"ok": False, "error": "users_list_not_supplied"}
        return {"ok": True, "channel": {"id": _dm_channel(users[0].strip())}}

    def _lookup_by_email(self, params: Params) -> Params:
        email = str(params.get("email", "")).lower()
        user = self.users.get(email)
        if user is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": {"id": user, "name": email.split("@")[0], "profile": {"email": email}}}

    def _views_open(self, params: Params) -> Params:
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = params.get("view")
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        stored = {**view, "id": self._next("V")}
        self._views[stored["id"]] = stored
        return {"ok": True, "view": stored}

    def _views_update(self, params: Params) -> Params:
        view_id = str(params.get("view_id", ""))
        view = params.get("view")
        if view_id not in self._views or not isinstance(view, dict):
            return {"ok": False, "error": "not_found"}
        self._views[view_id] = {**view, "id": view_id}
        return {"ok": True, "view": self._views[view_id]}


def _dm_channel(channel: str) -> str:
    """A user ID (U…/W…) posts to that user's DM: a stable D… channel derived from it."""
    return "D" + channel[1:] if channel[:1] in ("U", "W") else channel


class _Handler(BaseHTTPRequestHandler):
    owner: FakeSlack

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        url = urlsplit(self.path)
        params: Params = dict(parse_qsl(url.query))
        if body.lstrip().startswith("{") or "json" in (self.headers.get("Content-Type") or ""):
            params.update(json.loads(body or "{}"))
        else:
            params.update(parse_qsl(body))
        for field in _JSON_FIELDS:
            # Undecodable JSON is left as sent: the test's assertion will then show what was wrong.
            if isinstance(params.get(field), str):
                with contextlib.suppress(ValueError):
                    params[field] = json.loads(params[field])
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, retry_after = self.owner._handle(url.path.strip("/"), params, headers)
        if status == _DROP:
            self.close_connection = True
            return
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test and demo output clean


# -- rendering for a terminal ----------------------------------------------------------------------

_WIDTH = 76


def render_card(params: Params) -> str:
    """A chat.postMessage payload as plain text: the blocks if any (what Slack shows), else the text."""
    blocks = params.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if not blocks:
        return _wrap(_plain(str(params.get("text", ""))))
    return "\n".join(line for block in blocks for line in _render_block(block))


def _render_block(block: Params) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        title = _text(block.get("text"))
        return [title, "=" * min(len(title), _WIDTH)]
    if kind == "divider":
        return ["-" * _WIDTH]
    if kind == "section":
        lines = [_wrap(_text(block.get("text")))] if block.get("text") else []
        lines += [_wrap(_text(field)) for field in block.get("fields", [])]
        accessory = block.get("accessory")
        if accessory:
            lines.append(_element(accessory))
        return lines
    if kind == "context":
        return [_wrap("  " + "  |  ".join(_element(e) for e in block.get("elements", [])))]
    if kind == "actions":
        return [" ".join(_element(e) for e in block.get("elements", []))]
    return [f"({kind} block)"]


def _element(element: Params) -> str:
    kind = element.get("type")
    if kind in ("mrkdwn", "plain_text"):
        return _text(element)
    if kind == "button":
        return f"[ {_text(element.get('text'))} ]"
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    label = _text(element.get("placeholder")) or kind or "element"
    return f"[ {label} v ]"  # selects, date pickers, overflow menus


def _text(obj: Any) -> str:
    if isinstance(obj, dict):
        return _plain(str(obj.get("text", "")))
    return _plain(str(obj or ""))


def _plain(mrkdwn: str) -> str:
    """Slack's link and mention syntax made readable: <url|label> -> label (url), <@U1> -> @U1,
    <#C1|general> -> #general, <!here> -> @here."""
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", mrkdwn)
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    text = re.sub(r"<([@#])([^|>]*)(?:\|([^>]+))?>", lambda m: m.group(1) + (m.group(3) or m.group(2)), text)
    text = re.sub(r"<!([^|>]*)(?:\|([^>]+))?>", lambda m: m.group(2) or "@" + m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _wrap(text: str) -> str:
    return "\n".join(textwrap.fill(line, _WIDTH) if line else "" for line in text.split("\n"))
