"""A local stand-in for the Lambda Function URL in front of ack-handler, so a real browser (or curl) can
open the email-link pages and post their forms to the real handler running on a LocalCloud.

    with LocalCloud(settings) as cloud, FunctionUrlServer(cloud) as server:
        urlopen(server.url + "/email?t=...")

Each HTTP request becomes a Function URL event (payload format 2.0) and the handler's answer becomes
the HTTP response, as AWS would map them: headers lower-cased and repeated ones joined with commas,
cookies in `cookies`, and a body whose content type is not text handed over base64-encoded (a browser's
form post, `application/x-www-form-urlencoded`, arrives base64-encoded on AWS too). The asynchronous
work a request queues runs right after its answer, as `LocalCloud.http` does.

The server listens on 127.0.0.1 only, on an ephemeral port, in a daemon thread. The moto mock the
LocalCloud entered patches botocore process-wide, so it applies in the server's threads as well; the
LocalCloud itself is not thread-safe, so requests are served one at a time.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ew_local.cloud import PREFIX, LambdaContext, LocalCloud, function_url_event
from ew_local.loopback import LoopbackServer

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit
_TEXT_TYPES = ("application/json", "application/javascript", "application/xml", "application/yaml")


def is_text(content_type: str | None) -> bool:
    """Whether the Function URL passes a body with this content type as text (else base64)."""
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind.startswith("text/") or kind in _TEXT_TYPES or kind.endswith(("+json", "+xml"))


def request_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The Function URL event for one HTTP request (`target` is the request line's path?query)."""
    parts = urlsplit(target)
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        else:
            joined[key] = f"{joined[key]},{value}" if key in joined else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    binary = bool(body) and not is_text(joined.get("content-type"))
    text = base64.b64encode(body).decode("ascii") if binary else body.decode("utf-8", "replace")
    event = function_url_event(method, parts.path or "/", text, joined, query, binary)
    event["rawQueryString"] = parts.query  # as sent, not re-encoded
    event["requestContext"]["http"]["sourceIp"] = source_ip
    if cookies:
        event["cookies"] = cookies
    return event


def response_parts(answer: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of the HTTP response for a handler's return value."""
    if not isinstance(answer, Mapping) or "statusCode" not in answer:
        # Lambda infers a JSON 200 from anything else the function returns.
        body = answer if isinstance(answer, str) else json.dumps(answer)
        return 200, [("Content-Type", "application/json")], body.encode()
    headers = [(str(k), str(v)) for k, v in (answer.get("headers") or {}).items()]
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(v)) for v in values)
    headers.extend(("Set-Cookie", str(c)) for c in answer.get("cookies") or ())
    raw = answer.get("body")
    if raw is None:
        payload = b""
    elif answer.get("isBase64Encoded"):
        payload = base64.b64decode(raw)
    else:
        payload = (raw if isinstance(raw, str) else json.dumps(raw)).encode("utf-8")
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return int(answer["statusCode"]), headers, payload


class FunctionUrlServer(LoopbackServer):
    """Serves the Function URL of `cloud`'s ack-handler on http://127.0.0.1:<port>."""

    def __init__(self, cloud: LocalCloud, *, port: int = 0, run_tasks: bool = True, quiet: bool = True):
        super().__init__(port)
        self.handler = _Handler
        self.cloud = cloud
        self.run_tasks = run_tasks
        self.quiet = quiet
        self.errors: list[BaseException] = []  # handler crashes, answered 502 as Lambda would
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash: `server.url + "/email?t=..."`."""
        return self.root

    # -- one request -----------------------------------------------------------------------------

    def invoke(self, event: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        """Run ack-handler on one event (then the work it queued), one request at a time."""
        with self._lock:
            try:
                answer = self.cloud.ack_handler(event, LambdaContext(f"{PREFIX}-ack-handler"))
                if self.run_tasks:
                    self.cloud.tasks_run.extend(self.cloud.run_tasks())
            except Exception as exc:
                log.exception("ack-handler failed")
                self.errors.append(exc)
                return 502, [("Content-Type", "application/json")], b'{"Message":"Internal Server Error"}'
        return response_parts(answer)


class _Handler(BaseHTTPRequestHandler):
    owner: FunctionUrlServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._reply(413, [("Content-Type", "application/json")], b'{"Message":"Request Too Long"}')
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        event = request_event(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        self._reply(*self.owner.invoke(event))

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        if not self.owner.quiet:
            super().log_message(format, *args)
