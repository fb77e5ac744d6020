"""A local stand-in for the parts of the Google APIs the systems use, reached over HTTP by the REAL
google-api-python-client and google-auth (the way fake_slack serves slack_sdk), so tests and the local
runner exercise the real client, its auth flow, URL building and error handling.

    with FakeGoogle() as fake:
        fake.add_sheet("sheet-1", "Registry", [["item_id", "item"], ["A-1", "Lease"]])
        service = sheets_service(service_account_info(fake), endpoint=fake.url)

It issues OAuth tokens at `/token` (the service account's `token_uri`, JWT-bearer grant) and answers
API calls only with a token it issued (else 401). Implemented: Sheets v4 spreadsheets.get, values.get,
values.batchUpdate, values.append over an in-memory grid per spreadsheet and tab. Cells hold text as
written: USER_ENTERED drops a leading apostrophe, as Sheets does, but dates and numbers are not
reformatted to a locale the way Sheets would display them. Drive v3 files.export (text/plain) of
Google Docs held as text, answered as Google does: UTF-8 with a byte order mark and CRLF line ends.
Calendar v3 events.list with real incremental-sync semantics: a full read returns the live events and
a nextSyncToken; a read with that token returns only what changed since (cancelled events as
`{"id", "status": "cancelled"}`); pages of `maxResults`; an expired token answers 410
fullSyncRequired. A document or calendar can be unshared from the service account (Sheets answers
403, Drive and Calendar 404, as Google does). Faults (an HTTP error status with an optional reason,
slowness) can be scripted per path fragment.

Endpoints: with `client_options={"api_endpoint": ...}` googleapiclient drops the API's servicePath, so
Sheets (servicePath "") uses `fake.url`, while Drive v3 and Calendar v3 will need
`fake.endpoint("drive")` / `fake.endpoint("calendar")` (`url + "drive/v3/"`, `url + "calendar/v3/"`).
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ew_local.loopback import LoopbackServer
from opskit.table import column_letter

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"

# The servicePath each API's discovery document joins onto the root URL; see the module docstring.
_SERVICE_PATHS = {"sheets": "", "drive": "drive/v3/", "calendar": "calendar/v3/"}

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    410: "GONE",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Quota exceeded.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}

# The grid size Sheets gives a new tab; ranges in answers are bounded by it (or by the data if larger).
_MIN_ROWS, _MIN_COLUMNS = 1000, 26


@dataclass(frozen=True)
class Call:
    method: str  # HTTP method
    path: str  # decoded, without the query: /v4/spreadsheets/s1/values/'Registry'!A1:Z
    query: dict[str, str]
    body: Any  # decoded JSON, a form as a dict, or None
    headers: dict[str, str]  # lower-case names


@dataclass
class _Fault:
    fragment: str
    status: int
    times: int
    message: str
    reason: str = ""


@dataclass
class _Delay:
    fragment: str
    seconds: float
    times: int | None  # None: until reset


@dataclass
class _Answer:
    status: int
    body: Any  # JSON, or bytes sent as they are
    content_type: str = "application/json; charset=UTF-8"


@dataclass
class _Tab:
    sheet_id: int
    rows: list[list[str]] = field(default_factory=list)


class _ApiError(Exception):
    def __init__(self, status: int, message: str, reason: str = ""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


@dataclass
class _Calendar:
    """Events by id, each with the change number that last touched it; sync tokens name a change
    number, and tokens below `oldest_token` have expired."""

    events: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    changes: int = 0
    oldest_token: int = 0


Route = tuple[str, "re.Pattern[str]", Callable[[dict[str, str], Call], Any]]


class FakeGoogle(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.handler = _Handler
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._books: dict[str, dict[str, _Tab]] = {}  # spreadsheet ID -> tab title -> tab (in tab order)
        self._tokens: dict[str, str] = {}  # access token -> the service account email it was issued to
        self._docs: dict[str, str] = {}  # Google Doc file ID -> its text
        self._calendars: dict[str, _Calendar] = {}
        self._unshared: set[str] = set()  # spreadsheet, file and calendar IDs the account cannot see
        self._keys: dict[str, Any] = {}  # service account email -> RSA public key, to check JWT signatures
        self._counter = 0
        self._routes = self._route_table()

    @property
    def url(self) -> str:
        """The root URL with its trailing slash: the `api_endpoint` for Sheets v4."""
        return self.root + "/"

    @property
    def token_uri(self) -> str:
        return self.url + "token"

    def endpoint(self, api: str) -> str:
        """The `api_endpoint` for googleapiclient.discovery.build(api, ...): "sheets", "drive", "calendar"."""
        return self.url + _SERVICE_PATHS[api]

    # -- the sheets ------------------------------------------------------------------------------

    def add_sheet(self, spreadsheet_id: str, tab: str, rows: list[list[str]]) -> None:
        """Adds a tab (after the spreadsheet's existing ones) or replaces its cells."""
        with self._lock:
            book = self._books.setdefault(spreadsheet_id, {})
            existing = book.get(tab)
            sheet_id = existing.sheet_id if existing else (0 if not book else self._next())
            book[tab] = _Tab(sheet_id, [[str(cell) for cell in row] for row in rows])

    def rows(self, spreadsheet_id: str, tab: str) -> list[list[str]]:
        """A tab's cells now, trailing empty cells and rows trimmed (as Sheets answers a read)."""
        with self._lock:
            return _trim(self._books[spreadsheet_id][tab].rows)

    def tabs(self, spreadsheet_id: str) -> list[str]:
        with self._lock:
            return list(self._books[spreadsheet_id])

    # -- the docs and calendars ------------------------------------------------------------------

    def add_doc(self, file_id: str, text: str) -> None:
        """Adds a Google Doc, or replaces its text (as someone editing it would)."""
        with self._lock:
            self._docs[file_id] = text

    def doc_text(self, file_id: str) -> str:
        with self._lock:
            return self._docs[file_id]

    def put_event(self, calendar_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Adds or replaces (by "id") an event, as the calendar's owner would; returns it as stored,
        with the fields Google adds (status, htmlLink, updated, ...)."""
        with self._lock:
            calendar = self._calendars.setdefault(calendar_id, _Calendar())
            calendar.changes += 1
            event_id = str(event.get("id") or f"evt{self._next():06d}")
            eid = base64.urlsafe_b64encode(f"{event_id} {calendar_id}".encode()).decode().rstrip("=")
            stored = {
                "kind": "calendar#event",
                "etag": f'"{calendar.changes:016d}"',
                "status": "confirmed",
                "htmlLink": f"https://www.google.com/calendar/event?eid={eid}",
                **copy.deepcopy(event),
                "id": event_id,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            }
            calendar.events[event_id] = (calendar.changes, stored)
            return copy.deepcopy(stored)

    def cancel_event(self, calendar_id: str, event_id: str) -> None:
        """Deletes an event: later incremental reads return it as cancelled."""
        with self._lock:
            calendar = self._calendars[calendar_id]
            calendar.changes += 1
            calendar.events[event_id] = (calendar.changes, {"kind": "calendar#event", "id": event_id,
                                                             "status": "cancelled"})  # fmt: skip

    def expire_sync_tokens(self, calendar_id: str) -> None:
        """Every sync token issued so far for the calendar answers 410 (Google does this now and then)."""
        with self._lock:
            calendar = self._calendars.setdefault(calendar_id, _Calendar())
            calendar.oldest_token = calendar.changes + 1

    def unshare(self, resource_id: str) -> None:
        """The service account loses access to this spreadsheet, doc or calendar."""
        with self._lock:
            self._unshared.add(resource_id)

    def share(self, resource_id: str) -> None:
        with self._lock:
            self._unshared.discard(resource_id)

    # -- inspection ------------------------------------------------------------------------------

    def calls(self, path_fragment: str | None = None) -> list[Call]:
        """Every request received (token requests included), in order; those whose decoded path
        contains `path_fragment` if given."""
        with self._lock:
            return [c for c in self._calls if path_fragment is None or path_fragment in c.path]

    def api_calls(self) -> list[Call]:
        """The requests other than token requests."""
        return [c for c in self.calls() if c.path != "/token"]

    @property
    def tokens_issued(self) -> int:
        return len(self.calls("/token"))

    def reset(self) -> None:
        """Forgets calls, faults and delays; keeps the sheets, the issued tokens and the known keys."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._delays.clear()

    # -- scripting -------------------------------------------------------------------------------

    def fail(
        self,
        path_fragment: str,
        status: int = 500,
        times: int = 1,
        message: str | None = None,
        reason: str = "",
    ) -> None:
        """The next `times` requests whose decoded path contains `path_fragment` (e.g. "values:append",
        "/token", "/values/") answer HTTP `status` with a Google-style error carrying `message` (and
        `reason` in its "errors" list, as Drive and Calendar give one: "rateLimitExceeded", ...)."""
        text = message or _DEFAULT_MESSAGES.get(status, f"Error {status}")
        with self._lock:
            self._faults.append(_Fault(path_fragment, status, times, text, reason))

    def delay(self, path_fragment: str, seconds: float, times: int | None = None) -> None:
        """Matching requests wait `seconds` before answering: the next `times` of them, or all until
        reset()."""
        with self._lock:
            self._delays.append(_Delay(path_fragment, seconds, times))

    def expire_tokens(self) -> None:
        """Every issued token stops working (the client must fetch a new one after a 401)."""
        with self._lock:
            self._tokens.clear()

    def trust_key(self, client_email: str, public_key: Any) -> None:
        """JWTs from `client_email` must then be signed by this key (service_account_info does this)."""
        with self._lock:
            self._keys[client_email] = public_key

    # -- serving ---------------------------------------------------------------------------------

    def _handle(self, call: Call, raw_path: str) -> _Answer:
        """`raw_path` is the path as sent (still percent-encoded): routes match it, so a range holding
        "/" or ":" cannot confuse them."""
        with self._lock:
            self._calls.append(call)
            delay = self._take_delay(call.path)
            fault = self._take_fault(call.path)
        if delay:
            time.sleep(delay)
        if fault is not None:
            if call.path == "/token":
                return _Answer(fault.status, {"error": "fake_fault", "error_description": fault.message})
            return _error(fault.status, fault.message, fault.reason)
        if call.path == "/token":
            return self._token(call)
        auth = call.headers.get("authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
        with self._lock:
            known = token in self._tokens
        if not known:
            return _error(401, "Request is missing required authentication credential.")
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(raw_path)
            if method == call.method and match:
                params = {name: unquote(value) for name, value in match.groupdict().items()}
                try:
                    with self._lock:
                        answer = handler(params, call)
                    return answer if isinstance(answer, _Answer) else _Answer(200, answer)
                except _ApiError as error:
                    return _error(error.status, error.message, error.reason)
        return _error(404, f"fake_google has no handler for {call.method} {call.path}")

    def _route_table(self) -> list[Route]:
        """(HTTP method, pattern over the still-encoded path, handler)."""
        table: list[tuple[str, str, Callable[[dict[str, str], Call], Any]]] = [
            # Sheets v4
            ("GET", r"/v4/spreadsheets/(?P<id>[^/:]+)", self._spreadsheet_get),
            ("GET", r"/v4/spreadsheets/(?P<id>[^/:]+)/values/(?P<range>[^/]+)", self._values_get),
            ("POST", r"/v4/spreadsheets/(?P<id>[^/:]+)/values:batchUpdate", self._values_batch_update),
            ("POST", r"/v4/spreadsheets/(?P<id>[^/:]+)/values/(?P<range>[^/]+):append", self._values_append),
            # Drive v3, Calendar v3
            ("GET", r"/drive/v3/files/(?P<file_id>[^/]+)/export", self._drive_export),
            ("GET", r"/calendar/v3/calendars/(?P<calendar_id>[^/]+)/events", self._calendar_events),
        ]
        return [(method, re.compile(pattern), handler) for method, pattern, handler in table]

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.fragment in path:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _take_delay(self, path: str) -> float:
        for delay in self._delays:
            if delay.fragment in path:
                if delay.times is not None:
                    delay.times -= 1
                    if delay.times <= 0:
                        self._delays.remove(delay)
                return delay.seconds
        return 0.0

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    # -- OAuth -----------------------------------------------------------------------------------

    def _token(self, call: Call) -> _Answer:
        form = call.body if isinstance(call.body, dict) else {}
        if form.get("grant_type") != JWT_BEARER:
            return _Answer(
                400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
            )
        try:
            claims = self._check_assertion(str(form.get("assertion", "")))
        except ValueError as error:
            return _Answer(400, {"error": "invalid_grant", "error_description": str(error)})
        with self._lock:
            token = f"ya29.fake-{self._next():06d}"
            self._tokens[token] = str(claims.get("iss", ""))
        return _Answer(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def _check_assertion(self, assertion: str) -> dict[str, Any]:
        """The JWT's claims, after checking its shape, audience, expiry and (for a key this fake knows)
        its RS256 signature."""
        parts = assertion.split(".")
        if len(parts) != 3:
            raise ValueError("Invalid JWT: not three segments")
        try:
            header = json.loads(_b64decode(parts[0]))
            claims = json.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except ValueError as error:
            raise ValueError("Invalid JWT: undecodable segment") from error
        if header.get("alg") != "RS256":
            raise ValueError("Invalid JWT: alg must be RS256")
        for claim in ("iss", "aud", "iat", "exp", "scope"):
            if claim not in claims:
                raise ValueError(f"Invalid JWT: no {claim} claim")
        # google-auth always addresses Google's token endpoint, whatever the token_uri says.
        if claims["aud"] not in (GOOGLE_TOKEN_ENDPOINT, self.token_uri):
            raise ValueError("Invalid JWT: the audience is not this token endpoint")
        if float(claims["exp"]) < time.time():
            raise ValueError("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe")
        with self._lock:
            key = self._keys.get(str(claims["iss"]))
        if key is not None:
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding

            try:
                signed = f"{parts[0]}.{parts[1]}".encode()
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                raise ValueError("Invalid JWT Signature.") from None
        return dict(claims)

    # -- Sheets v4 -------------------------------------------------------------------------------

    def _book(self, spreadsheet_id: str) -> dict[str, _Tab]:
        book = self._books.get(spreadsheet_id)
        if book is None:
            raise _ApiError(404, "Requested entity was not found.")
        if spreadsheet_id in self._unshared:
            raise _ApiError(403, "The caller does not have permission")
        return book

    # -- Drive v3 --------------------------------------------------------------------------------

    def _drive_export(self, params: dict[str, str], call: Call) -> _Answer:
        file_id = params["file_id"]
        if file_id not in self._docs or file_id in self._unshared:
            raise _ApiError(404, f"File not found: {file_id}.", "notFound")
        if call.query.get("mimeType") != "text/plain":
            raise _ApiError(400, "fake_google exports text/plain only", "badRequest")
        # As Google exports a Doc: a byte order mark, and CRLF between paragraphs.
        text = "\ufeff" + self._docs[file_id].replace("\r\n", "\n").replace("\n", "\r\n")
        return _Answer(200, text.encode("utf-8"), "text/plain; charset=UTF-8")

    # -- Calendar v3 -----------------------------------------------------------------------------

    def _calendar_events(self, params: dict[str, str], call: Call) -> Any:
        calendar_id = params["calendar_id"]
        calendar = self._calendars.get(calendar_id)
        if calendar is None or calendar_id in self._unshared:
            raise _ApiError(404, "Not Found", "notFound")
        query = call.query
        size = max(1, min(int(query.get("maxResults") or 250), 2500))
        if query.get("pageToken"):
            page = json.loads(_b64decode(query["pageToken"]))
            since, upto, offset, full = (
                int(page["since"]),
                int(page["upto"]),
                int(page["offset"]),
                page["full"],
            )
        else:
            since, upto, offset, full = 0, calendar.changes, 0, not query.get("syncToken")
            if not full:
                try:
                    since = int(json.loads(_b64decode(query["syncToken"]))["n"])
                except (ValueError, KeyError, TypeError):
                    raise _ApiError(400, "Invalid sync token value.", "invalid") from None
                if since < calendar.oldest_token:
                    raise _ApiError(410, "Sync token is no longer valid, a full sync is required.",
                                    "fullSyncRequired")  # fmt: skip
        changed = sorted(
            (n, event)
            for n, event in calendar.events.values()
            if since < n <= upto and not (full and event["status"] == "cancelled"
                                          and query.get("showDeleted") != "true")
        )  # fmt: skip
        window = [copy.deepcopy(event) for _, event in changed[offset : offset + size]]
        answer: dict[str, Any] = {"kind": "calendar#events", "summary": calendar_id, "items": window}
        if offset + size < len(changed):
            token = {"since": since, "upto": upto, "offset": offset + size, "full": full}
            answer["nextPageToken"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
        else:
            answer["nextSyncToken"] = base64.urlsafe_b64encode(json.dumps({"n": upto}).encode()).decode()
        return answer

    def _spreadsheet_get(self, params: dict[str, str], call: Call) -> Any:
        book = self._book(params["id"])
        sheets = []
        for index, (title, tab) in enumerate(book.items()):
            rows, columns = _grid_size(tab.rows)
            properties = {
                "sheetId": tab.sheet_id,
                "title": title,
                "index": index,
                "sheetType": "GRID",
                "gridProperties": {"rowCount": rows, "columnCount": columns},
            }
            sheets.append({"properties": properties})
        return {
            "spreadsheetId": params["id"],
            "properties": {"title": params["id"], "locale": "en_US", "timeZone": "Etc/UTC"},
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{params['id']}/edit",
        }

    def _values_get(self, params: dict[str, str], call: Call) -> Any:
        book = self._book(params["id"])
        if call.query.get("majorDimension", "ROWS") != "ROWS":
            raise _ApiError(400, "fake_google answers majorDimension ROWS only")
        title, area = _parse_range(params["range"], list(book))
        tab = book[title]
        top, left, bottom, right = _bounded(area, tab.rows)
        values = _trim([row[left : right + 1] for row in _pad(tab.rows, bottom + 1, right + 1)[top:]])
        answer: dict[str, Any] = {"range": _a1(title, top, left, bottom, right), "majorDimension": "ROWS"}
        if values:
            answer["values"] = values
        return answer

    def _values_batch_update(self, params: dict[str, str], call: Call) -> Any:
        book = self._book(params["id"])
        body = call.body if isinstance(call.body, dict) else {}
        option = body.get("valueInputOption")
        if option not in ("RAW", "USER_ENTERED"):
            raise _ApiError(400, "'valueInputOption' is required but not specified")
        # Like Sheets, all ranges are checked before any is written.
        writes = []
        for item in body.get("data") or []:
            title, area = _parse_range(str(item.get("range", "")), list(book))
            values = [[_entered(cell, option) for cell in row] for row in item.get("values") or []]
            if item.get("majorDimension", "ROWS") != "ROWS":
                raise _ApiError(400, "fake_google writes majorDimension ROWS only")
            _check_fits(area, values, str(item.get("range", "")))
            writes.append((title, area, values))
        responses = []
        for title, area, values in writes:
            top, left = area[0], area[1]
            _write(book[title].rows, top, left, values)
            responses.append(_update_summary(params["id"], title, top, left, values))
        return {
            "spreadsheetId": params["id"],
            "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
            "totalUpdatedColumns": sum(r["updatedColumns"] for r in responses),
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
            "totalUpdatedSheets": len({title for title, _, _ in writes}),
            "responses": responses,
        }

    def _values_append(self, params: dict[str, str], call: Call) -> Any:
        """Like Sheets: finds the table at the range's top left (the first non-empty row at or below it
        and the non-empty rows that follow) and writes after its last row, inserting rows
        (insertDataOption INSERT_ROWS) or overwriting (OVERWRITE, the default)."""
        book = self._book(params["id"])
        option = call.query.get("valueInputOption")
        if option not in ("RAW", "USER_ENTERED"):
            raise _ApiError(400, "'valueInputOption' is required but not specified")
        title, area = _parse_range(params["range"], list(book))
        body = call.body if isinstance(call.body, dict) else {}
        values = [[_entered(cell, option) for cell in row] for row in body.get("values") or []]
        rows = book[title].rows
        top, left = area[0], area[1]
        start = top
        while start < len(rows) and not _filled(rows[start]):
            start += 1
        if start >= len(rows):  # no table: the values go at the range's top left
            end = top
        else:
            end = start
            while end < len(rows) and _filled(rows[end]):
                end += 1
        if call.query.get("insertDataOption") == "INSERT_ROWS" and end < len(rows):
            rows[end:end] = [[] for _ in values]
        _write(rows, end, left, values)
        width = max((len(row) for row in values), default=1)
        table = _a1(title, start, left, max(end - 1, start), left + width - 1) if start < end else None
        answer: dict[str, Any] = {
            "spreadsheetId": params["id"],
            "updates": _update_summary(params["id"], title, end, left, values),
        }
        if table:
            answer["tableRange"] = table
        return answer


class _Handler(BaseHTTPRequestHandler):
    owner: FakeGoogle

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        kind = headers.get("content-type", "")
        body: Any = None
        if raw:
            text = raw.decode("utf-8")
            if "x-www-form-urlencoded" in kind:
                body = dict(parse_qsl(text))
            else:
                try:
                    body = json.loads(text)
                except ValueError:
                    body = text
        call = Call(self.command, unquote(url.path), dict(parse_qsl(url.query)), body, headers)
        answer = self.owner._handle(call, url.path)
        data = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test and demo output clean


# -- A1 notation -----------------------------------------------------------------------------------

Area = tuple[int, int, int | None, int | None]  # top, left, bottom, right: 0-based, inclusive; None = open


def _parse_range(text: str, tabs: list[str]) -> tuple[str, Area]:
    """`'My tab'!A1:Z`, `Registry!C5:D5`, `Sheet1`, `A1:B2` (the first tab), `Registry!1:1`, `Tab!A:C`."""
    bad = _ApiError(400, f"Unable to parse range: {text}")
    if "!" in text:
        name, cells = text.rsplit("!", 1)
        title = _tab_name(name)
        if title not in tabs:
            raise bad
        return title, _parse_cells(cells, bad)
    if _tab_name(text) in tabs:
        return _tab_name(text), (0, 0, None, None)
    if not tabs:
        raise bad
    return tabs[0], _parse_cells(text, bad)


def _tab_name(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return text


_CELL = re.compile(r"\$?([A-Za-z]*)\$?(\d*)")


def _parse_cells(text: str, bad: _ApiError) -> Area:
    ends = text.split(":")
    if len(ends) > 2 or not all(ends):
        raise bad
    refs = []
    for end in ends:
        match = _CELL.fullmatch(end)
        if not match or not (match.group(1) or match.group(2)):
            raise bad
        column = _column_index(match.group(1)) if match.group(1) else None
        row = int(match.group(2)) - 1 if match.group(2) else None
        if row is not None and row < 0:
            raise bad
        refs.append((row, column))
    (top, left), (bottom, right) = refs[0], refs[-1]
    if len(refs) == 1:  # a single cell, a whole column ("C") or a whole row ("5")
        return top or 0, left or 0, top, left
    return top or 0, left or 0, bottom, right


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _a1(title: str, top: int, left: int, bottom: int, right: int) -> str:
    name = title if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title) else "'" + title.replace("'", "''") + "'"
    start = f"{column_letter(left)}{top + 1}"
    end = f"{column_letter(right)}{bottom + 1}"
    return f"{name}!{start}" if start == end else f"{name}!{start}:{end}"


# -- the grid --------------------------------------------------------------------------------------


def _grid_size(rows: list[list[str]]) -> tuple[int, int]:
    return max(_MIN_ROWS, len(rows)), max(_MIN_COLUMNS, max((len(row) for row in rows), default=0))


def _bounded(area: Area, rows: list[list[str]]) -> tuple[int, int, int, int]:
    height, width = _grid_size(rows)
    top, left, bottom, right = area
    return top, left, height - 1 if bottom is None else bottom, width - 1 if right is None else right


def _pad(rows: list[list[str]], height: int, width: int) -> list[list[str]]:
    grid = [row + [""] * (width - len(row)) for row in rows[:height]]
    return grid + [[""] * width for _ in range(height - len(grid))]


def _trim(rows: list[list[str]]) -> list[list[str]]:
    trimmed = copy.deepcopy(rows)
    for row in trimmed:
        while row and row[-1] == "":
            row.pop()
    while trimmed and not trimmed[-1]:
        trimmed.pop()
    return trimmed


def _filled(row: list[str]) -> bool:
    return any(cell != "" for cell in row)


def _entered(cell: Any, option: str) -> str:
    """A written value as Sheets stores it: USER_ENTERED drops the apostrophe that marks text."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    text = str(cell)
    if option == "USER_ENTERED" and text.startswith("'"):
        return text[1:]
    return text


def _check_fits(area: Area, values: list[list[str]], text: str) -> None:
    top, left, bottom, right = area
    height, width = len(values), max((len(row) for row in values), default=0)
    if bottom is not None and top + height - 1 > bottom:
        raise _ApiError(
            400, f"Requested writing within range [{text}], but tried writing to row [{top + height}]"
        )
    if right is not None and left + width - 1 > right:
        column = column_letter(left + width - 1)
        raise _ApiError(
            400, f"Requested writing within range [{text}], but tried writing to column [{column}]"
        )


def _write(rows: list[list[str]], top: int, left: int, values: list[list[str]]) -> None:
    for r, line in enumerate(values):
        while len(rows) <= top + r:
            rows.append([])
        row = rows[top + r]
        for c, value in enumerate(line):
            while len(row) <= left + c:
                row.append("")
            row[left + c] = value


def _update_summary(
    spreadsheet_id: str, title: str, top: int, left: int, values: list[list[str]]
) -> dict[str, Any]:
    height = max(len(values), 1)
    width = max((len(row) for row in values), default=1) or 1
    return {
        "spreadsheetId": spreadsheet_id,
        "updatedRange": _a1(title, top, left, top + height - 1, left + width - 1),
        "updatedRows": len(values),
        "updatedColumns": width if values else 0,
        "updatedCells": sum(len(row) for row in values),
    }


def _error(status: int, message: str, reason: str = "") -> _Answer:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if reason:  # Drive v3 and Calendar v3 errors carry the older "errors" list with a reason code
        error["errors"] = [{"domain": "global", "reason": reason, "message": message}]
    return _Answer(status, {"error": error})


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- service-account credentials -------------------------------------------------------------------


@functools.cache
def _key_pair() -> tuple[str, Any]:
    """(private key PEM, public key): generated once per process, since RSA key generation is slow."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


def service_account_info(
    fake: FakeGoogle, client_email: str = "ops-sync@fake-project.iam.gserviceaccount.com"
) -> dict[str, str]:
    """A service-account JSON (as Google's console downloads it) whose token_uri is the fake's, with a
    real RSA key the fake checks JWT signatures against."""
    pem, public_key = _key_pair()
    fake.trust_key(client_email, public_key)
    project = client_email.split("@", 1)[1].split(".", 1)[0]
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": hashlib.sha1(pem.encode()).hexdigest(),
        "private_key": pem,
        "client_email": client_email,
        "client_id": str(int(hashlib.sha256(client_email.encode()).hexdigest()[:20], 16)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": fake.token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
        + client_email.replace("@", "%40"),
        "universe_domain": "googleapis.com",
    }
