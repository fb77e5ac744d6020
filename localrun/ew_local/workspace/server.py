"""The workspace's HTTP server on 127.0.0.1: its own pages, and for every other path ack-handler's
Function URL (the email-link pages, /slack/actions), so the outbox's links work on the same port.

Pages are GETs; every action is a plain form POST answered with a redirect (POST-redirect-GET), so a
reload never clicks twice. A forwarded file comes as a multipart form post to /forward, up to
forwarding.UPLOAD_LIMIT; a larger one is read off the connection and thrown away, and the page says why.
One request at a time: the LocalCloud behind it is not thread-safe.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from ew_local.url_server import FunctionUrlServer
from ew_local.url_server import _Handler as FunctionUrlHandler
from ew_local.workspace import forwarding, render
from ew_local.workspace.session import Forwarded, Workspace

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 64 * 1024
HTML = "text/html; charset=utf-8"
_MODAL = re.compile(r"/modal/([A-Za-z0-9]+)")
PAGES = {
    ("GET", "/"), ("GET", "/sheet"), ("GET", "/audit"), ("GET", "/outbox"), ("GET", "/favicon.ico"),
    ("POST", "/click"), ("POST", "/clock/next"), ("POST", "/forward"),
}  # fmt: skip

Page = tuple[int, list[tuple[str, str]], bytes]


class WorkspaceServer(FunctionUrlServer):
    """Serves `workspace` on http://127.0.0.1:<port> (0: any free port)."""

    def __init__(self, workspace: Workspace, *, port: int = 0, quiet: bool = True):
        super().__init__(workspace.cloud, port=port, quiet=quiet)
        self.handler = _Handler
        self.workspace = workspace

    def invoke(self, event: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        """A Function URL request (an email link's page or its POST), watched like any other action."""
        with self.workspace.lock, self.workspace.observing("an email link"):
            return super().invoke(event)

    # -- routes ------------------------------------------------------------------------------------

    @staticmethod
    def is_page(method: str, path: str) -> bool:
        """Whether the workspace answers this request (else it is the Function URL's)."""
        return (method, path) in PAGES or (method == "POST" and _MODAL.fullmatch(path) is not None)

    def page(self, method: str, target: str, form: dict[str, str]) -> Page:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        with self.workspace.lock:
            if path == "/":
                return self._slack(query, self.workspace.forwards.get(query.get("f", "")))
            pages = {"/sheet": self._sheet, "/audit": self._audit, "/outbox": self._outbox}
            if method == "GET":
                return pages[path]() if path in pages else (HTTPStatus.NO_CONTENT, [], b"")  # no favicon
            if path == "/click":
                return self._click(form)
            if path == "/clock/next":
                return self._next_day(form)
            modal = _MODAL.fullmatch(path)
            assert modal is not None
            return self._submit(modal.group(1), form)

    def _frame(self, title: str, tab: str, body: str, back: str | None = None) -> Page:
        ws = self.workspace
        html = render.document(title, tab, ws.clock.now(), ws.waiting(), body, back)
        return HTTPStatus.OK, [("Content-Type", HTML), ("Cache-Control", "no-store")], html.encode()

    def upload(self, content_type: str, body: bytes | None, length: int, head: bytes = b"") -> Page:
        """A file posted to /forward (`body` None: it was larger than forwarding.UPLOAD_LIMIT and only
        its first bytes, `head`, were kept): forwarded, or refused in words, then back to the page."""
        ws = self.workspace
        with ws.lock:
            if body is None:
                done = ws.refuse_forward(forwarding.too_large(forwarding.name_in(head), length))
            else:
                try:
                    done = ws.forward(forwarding.read_upload(content_type, body))
                except forwarding.Refused as exc:
                    done = ws.refuse_forward(str(exc))
        query = {"c": done.channel, "f": done.key} if done.channel else {"f": done.key}
        return _see_other("/?" + urlencode(query))

    def _slack(self, query: dict[str, str], forwarded: Forwarded | None = None) -> Page:
        ws = self.workspace
        conversations = ws.conversations()
        modal = ws.modals.get(query.get("modal", ""))
        wanted = query.get("c") or (modal.channel if modal else "")
        # The conversation asked for, else the first DM with messages, else the first with any.
        busy = sorted((c for c in conversations if c.messages), key=lambda c: c.kind != "dm")
        selected = next((c for c in conversations if c.channel == wanted), None) or next(iter(busy), None)
        back = "/?" + urlencode({"c": selected.channel}) if selected else "/"
        box = render.Forwarding(
            forwarding.INBOUND, ws.forwarder, ws.intake_label, forwarding.LIMITS_IN_WORDS, forwarded
        )
        body = render.slack_body(conversations, selected, modal, ws.happened, box)
        return self._frame("Slack", "/", body, back)

    def _sheet(self) -> Page:
        header, rows = self.workspace.sheet()
        return self._frame("Sheet", "/sheet", render.sheet_body(header, rows, self.workspace.sheet_change))

    def _audit(self) -> Page:
        body = render.audit_body(self.workspace.audit(), self.workspace.clock.tz)
        return self._frame("Audit trail", "/audit", body)

    def _outbox(self) -> Page:
        return self._frame("Email outbox", "/outbox", render.outbox_body(self.workspace.outbox()))

    def _click(self, form: dict[str, str]) -> Page:
        channel = form.get("channel", "")
        key = self.workspace.click(channel, form.get("ts", ""), form.get("action", ""))
        query = {"c": channel, **({"modal": key} if key else {})}
        return _see_other("/?" + urlencode(query) + ("" if key else f"#m-{form.get('ts', '')}"))

    def _submit(self, key: str, form: dict[str, str]) -> Page:
        modal = self.workspace.modals.get(key)
        if modal is None:
            return _see_other("/")  # submitted twice (the back button): it is gone
        closed = self.workspace.submit(key, form)
        query = {"c": modal.channel} if closed else {"c": modal.channel, "modal": key}
        return _see_other("/?" + urlencode(query))

    def _next_day(self, form: dict[str, str]) -> Page:
        self.workspace.next_day()
        back = urlsplit(form.get("back", "/"))
        # Only back to one of our own pages (never a redirect elsewhere).
        home = not back.scheme and not back.netloc and back.path in {path for path, _ in render.TABS}
        return _see_other(back.geturl() if home else "/")


def _see_other(location: str) -> Page:
    return HTTPStatus.SEE_OTHER, [("Location", location), ("Content-Length", "0")], b""


class _Handler(FunctionUrlHandler):
    owner: WorkspaceServer

    def _serve(self) -> None:
        path = urlsplit(self.path).path
        if not self.owner.is_page(self.command, path):
            super()._serve()  # the Function URL
            return
        length = int(self.headers.get("Content-Length") or 0)
        if (self.command, path) == ("POST", "/forward"):
            self._upload(length)
            return
        if length > MAX_FORM_BYTES:
            self._reply(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, [("Content-Type", "text/plain")], b"form too big"
            )
            self.close_connection = True
            return
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        self._answer(lambda: self.owner.page(self.command, self.path, form))

    def _upload(self, length: int) -> None:
        content_type = self.headers.get("Content-Type") or ""
        if length <= forwarding.UPLOAD_LIMIT:
            body = self.rfile.read(length) if length else b""
            if len(body) < length:  # the browser went away mid-upload: nobody to answer
                self.close_connection = True
                return
            self._answer(lambda: self.owner.upload(content_type, body, length))
            return
        # Too large to hold: read it off the connection (the browser shows no answer before it has
        # sent everything), keeping the start, where the file's name is.
        head, left = self.rfile.read(min(length, 16 * 1024)), length
        left -= len(head)
        while left > 0:
            chunk = self.rfile.read(min(left, 1024 * 1024))
            if not chunk:
                self.close_connection = True
                return
            left -= len(chunk)
        self._answer(lambda: self.owner.upload(content_type, None, length, head))

    def _answer(self, page: Callable[[], Page]) -> None:
        try:
            answer = page()
        except Exception as exc:
            log.exception("the workspace page failed")
            self.owner.errors.append(exc)
            answer = (
                500,
                [("Content-Type", "text/plain; charset=utf-8")],
                f"Something broke: {exc}".encode(),
            )
        self._reply(*answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve
