"""Google APIs (Sheets v4, Drive v3, Calendar v3) as a service account: one sign-in, the clients built
from the static discovery documents the layer ships (no network call to build one), every failure a
GoogleError in plain words, and transient failures retried with backoff inside the caller's deadline.

    google = GoogleSession(json.loads(secret), [DRIVE_READONLY])
    retry = Retry(deadline=time.monotonic() + 60)
    text = retry.run(lambda: export_text(google, doc_id, "the rules doc"))

Why not googleapiclient's own `execute(num_retries=n)`: it retries the same failures (429, 5xx, 403
rate limits) but sleeps `random() * 2**n` seconds whatever time is left and ignores Retry-After. A
Lambda near its timeout must stop retrying in time to record what it did, so retries happen here.

googleapiclient and google.auth are imported inside the functions that use them: a module that only
imports this one stays fast to load.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

SHEETS_READONLY = "https://www.googleapis.com/auth/spreadsheets.readonly"
DRIVE_READONLY = "https://www.googleapis.com/auth/drive.readonly"
CALENDAR_READONLY = "https://www.googleapis.com/auth/calendar.readonly"

# With `client_options={"api_endpoint": ...}` googleapiclient uses the endpoint in place of
# rootUrl + servicePath, so a stand-in's endpoint must carry each API's servicePath itself.
_SERVICE_PATHS = {"sheets": "", "drive": "drive/v3/", "calendar": "calendar/v3/"}
_API_NAMES = {"sheets": "Google Sheets", "drive": "Google Drive", "calendar": "Google Calendar"}
_REQUIRED_FIELDS = ("client_email", "private_key", "token_uri")
# Drive and Calendar say "slow down" with a 403 and one of these reasons (Sheets uses 429).
_RATE_LIMIT_REASONS = ("rateLimitExceeded", "userRateLimitExceeded")

T = TypeVar("T")
E = TypeVar("E", bound="GoogleError")


class GoogleError(Exception):
    """Google did not do what was asked. `status` is the HTTP status (None: no answer); `transient` is
    true when the same request may well work a little later (no answer, 429, 5xx, a rate-limit 403);
    `reason` is Google's own reason code when it gave one (`fullSyncRequired`, `notFound`, ...).
    The message never carries credentials."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False, reason: str = ""):
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.reason = reason
        self.retry_after: float | None = None


class GoogleSession:
    """A service account, signed in lazily (the first request fetches a token), and its API clients.
    Not thread-safe (httplib2): one per thread."""

    def __init__(
        self,
        service_account_info: Mapping[str, Any],
        scopes: Sequence[str],
        *,
        endpoint: str | None = None,
        timeout: float = 20,
    ):
        """`endpoint` replaces https://www.googleapis.com/ for every API (a local stand-in's root URL);
        `timeout` bounds each socket read of each request, in seconds."""
        missing = [name for name in _REQUIRED_FIELDS if not service_account_info.get(name)]
        if missing:
            raise GoogleError(
                f"the service account JSON is not usable: it has no {', '.join(missing)} "
                "(paste the whole JSON key file Google gave you, unchanged)"
            )
        self.client_email = str(service_account_info["client_email"])
        self._info = dict(service_account_info)
        self._scopes = list(scopes)
        self._endpoint = endpoint.rstrip("/") + "/" if endpoint else None
        self._timeout = timeout
        self._http: Any = None
        self._services: dict[str, Any] = {}

    def service(self, api: str, version: str) -> Any:
        """The googleapiclient Resource for `api` ("sheets", "drive", "calendar"), built once."""
        key = f"{api}.{version}"
        if key not in self._services:
            from googleapiclient.discovery import build

            options = {"api_endpoint": self._endpoint + _SERVICE_PATHS[api]} if self._endpoint else None
            try:
                self._services[key] = build(
                    api,
                    version,
                    http=self._authorized(),
                    static_discovery=True,
                    cache_discovery=False,
                    client_options=options,
                )
            except GoogleError:
                raise
            except Exception as error:
                raise GoogleError(
                    f"the {_API_NAMES.get(api, api)} client could not be set up ({type(error).__name__})"
                ) from None
        return self._services[key]

    def _authorized(self) -> Any:
        if self._http is None:
            import google_auth_httplib2
            import httplib2
            from google.oauth2 import service_account

            try:
                credentials = service_account.Credentials.from_service_account_info(
                    self._info, scopes=self._scopes
                )
            except Exception:
                # The library's own text may quote parts of the key: say what is wrong without it.
                raise GoogleError(
                    "the service account JSON is not usable: its private key could not be read "
                    "(paste the whole JSON key file Google gave you, unchanged)"
                ) from None
            self._http = google_auth_httplib2.AuthorizedHttp(
                credentials, http=httplib2.Http(timeout=self._timeout)
            )
        return self._http


class Retry:
    """Runs a call again while it fails with a transient error (an exception whose `transient`
    attribute is true: GoogleError, opskit.sheets.SheetsError), with exponential backoff and jitter,
    honouring Retry-After; gives up (re-raising the last error) after `attempts` tries or when the next
    wait would end past `deadline` (a `clock()` value, e.g. time.monotonic() + the time left)."""

    def __init__(
        self,
        deadline: float | None = None,
        *,
        attempts: int = 5,
        base: float = 1.0,
        cap: float = 16.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ):
        self.deadline = deadline
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self._sleep = sleep
        self._clock = clock
        self._rand = rand
        self.waits: list[float] = []  # every wait taken, for logs and tests

    def run(self, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return call()
            except Exception as error:
                attempt += 1
                if not getattr(error, "transient", False) or attempt >= self.attempts:
                    raise
                wait = self._wait(attempt, getattr(error, "retry_after", None))
                if self.deadline is not None and self._clock() + wait > self.deadline:
                    raise
                self.waits.append(wait)
                self._sleep(wait)

    def _wait(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.cap, self.base * 2 ** (attempt - 1)) * (0.5 + self._rand() / 2)
        return max(backoff, min(retry_after or 0.0, self.cap * 4))


def execute(request: Any, what: str, share_hint: str = "") -> Any:
    """One googleapiclient request, once; failures become GoogleError naming `what` ("the rules doc
    1AbC…") and, when access is refused, `share_hint` ("share it with x@y.iam.gserviceaccount.com")."""
    refused = partial(http_error, what=what, share_hint=share_hint)
    return execute_as(request, GoogleError, refused, doing=f" while reading {what}")


def execute_as(
    request: Any, error_type: type[E], refused: Callable[[Any], E], *, api: str = "Google", doing: str = ""
) -> Any:
    """One googleapiclient request, once, every failure an `error_type` in plain words: an HTTP error
    answer as `refused` words it; credentials Google would not take; no answer (`api` "did not answer
    in time" or "could not be reached", then `doing`: " while reading the rules doc")."""
    from google.auth import exceptions as auth_errors
    from googleapiclient.errors import HttpError

    try:
        return request.execute(num_retries=0)
    except HttpError as error:
        raise refused(error) from None
    except auth_errors.RefreshError as error:
        reason = str(error.args[0]) if error.args else ""
        raise error_type(
            "Google did not accept the service account's credentials"
            + (f" ({_short(reason)})" if reason else "")
            + ": check the JSON stored for it, or create a new key"
        ) from None
    except auth_errors.TransportError as error:
        # google-auth raises it from the socket's or httplib2's error: that one says what happened.
        wrapped = error.args[0] if error.args and isinstance(error.args[0], BaseException) else error
        raise _transport_error(error_type, api, doing, error.__cause__ or wrapped) from None
    except (OSError, http.client.HTTPException) as error:
        raise _transport_error(error_type, api, doing, error) from None
    except Exception as error:  # httplib2's own errors (ServerNotFoundError, RedirectLimit, ...)
        if type(error).__module__.startswith("httplib2"):
            raise _transport_error(error_type, api, doing, error) from None
        raise


def http_error(error: Any, what: str, share_hint: str = "") -> GoogleError:
    """A googleapiclient HttpError in plain words."""
    status = int(getattr(error.resp, "status", 0) or 0)
    message, reason = _google_says(error)
    api = _api_name(error)
    if status == 429 or (status == 403 and reason in _RATE_LIMIT_REASONS):
        found = GoogleError(
            f"{api} asked to slow down (too many requests) while reading {what}",
            status=status,
            transient=True,
            reason=reason,
        )
        found.retry_after = _retry_after(error)
        return found
    if status >= 500:
        return GoogleError(f"{api} failed ({status}) while reading {what}", status=status, transient=True)
    if status == 403 and re.search(r"SERVICE_DISABLED|accessNotConfigured|has not been used|is disabled",
                                   message + reason):  # fmt: skip
        detail = (
            f"the {api} API is not enabled in the service account's Google Cloud project: "
            "enable it in the Cloud console (APIs & Services)"
        )
    elif status == 403 and reason == "fileNotExportable":
        detail = f"{what} is not a Google Doc, so it cannot be read as text: use a Google Doc"
    elif status == 403:
        detail = f"the service account has no access to {what}" + (f": {share_hint}" if share_hint else "")
    elif status == 404:
        # Drive and Calendar answer 404, not 403, for what exists but is not shared.
        detail = f"{what} was not found: check its ID" + (f", and {share_hint}" if share_hint else "")
    elif status == 401:
        detail = "the service account's credentials were not accepted: check the JSON stored for it"
    else:
        detail = _short(message) or "no reason given"
    return GoogleError(f"{api} refused the request ({status}): {detail}", status=status, reason=reason)


def _google_says(error: Any) -> tuple[str, str]:
    """(Google's plain message, its first reason code) from an error answer."""
    content = getattr(error, "content", b"")
    text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else str(content or "")
    try:
        body = json.loads(text)
    except ValueError:
        return str(getattr(error, "reason", "") or ""), ""
    inner = body.get("error") if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        return str(getattr(error, "reason", "") or ""), ""
    message = str(inner.get("message") or "")
    errors = inner.get("errors")
    reason = ""
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        reason = str(errors[0].get("reason") or "")
    details = inner.get("details")
    if not reason and isinstance(details, list):
        reason = next((str(d.get("reason")) for d in details if isinstance(d, dict) and d.get("reason")), "")
    return message, reason or str(inner.get("status") or "")


def _retry_after(error: Any) -> float | None:
    value = getattr(error.resp, "get", lambda _name: None)("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _api_name(error: Any) -> str:
    uri = str(getattr(error, "uri", "") or "")
    for key, name in (
        ("/calendar/", "Google Calendar"),
        ("/drive/", "Google Drive"),
        ("/spreadsheets", "Google Sheets"),
    ):
        if key in uri:
            return name
    return "Google"


def _transport_error(error_type: type[E], api: str, doing: str, cause: Any) -> E:
    if isinstance(cause, TimeoutError):
        return error_type(f"{api} did not answer in time{doing}", transient=True)
    return error_type(f"{api} could not be reached{doing} ({type(cause).__name__})", transient=True)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
