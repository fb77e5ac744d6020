"""opskit.google_api and opskit.google_docs through the real google-api-python-client and google-auth,
against the local Google stand-in: reading a tab as CSV, a Doc as text, a calendar's changes; the
errors a person can act on; retries inside a deadline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from ew_local.fake_google import FakeGoogle, service_account_info
from opskit.google_api import (
    CALENDAR_READONLY,
    DRIVE_READONLY,
    SHEETS_READONLY,
    GoogleError,
    GoogleSession,
    Retry,
)
from opskit.google_docs import (
    SyncTokenExpired,
    changed_events,
    export_text,
    grid_csv,
    read_sheet,
    serial_date,
)
from opskit.sheets import SheetsError

EMAIL = "ops-sync@fake-project.iam.gserviceaccount.com"
CAL = "team@acme.example"


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        yield fake


@pytest.fixture
def google(fake: FakeGoogle) -> GoogleSession:
    scopes = [SHEETS_READONLY, DRIVE_READONLY, CALENDAR_READONLY]
    return GoogleSession(service_account_info(fake), scopes, endpoint=fake.url, timeout=5)


def no_wait() -> Retry:
    waits: list[float] = []
    return Retry(sleep=waits.append, rand=lambda: 0.5)


# -- serial dates and the CSV ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("46082", date(2026, 3, 1)),
        ("46,082", date(2026, 3, 1)),
        ("46082.75", date(2026, 3, 1)),  # a time of day is dropped
        ("25569", date(1970, 1, 1)),
        ("2026", None),  # a year alone stays a visible mistake, not 18 Jul 1905
        ("1 Mar 2026", None),
        ("", None),
        ("-46082", None),
        ("999999", None),
    ],
)
def test_serial_date(cell: str, expected: date | None) -> None:
    assert serial_date(cell) == expected


def test_grid_csv_keeps_blank_rows_so_row_numbers_match_the_sheet_and_reads_serials_in_date_columns() -> None:
    header = ["Item ID", "Expiry Date", "Notes"]
    rows = [["A-1", "46082", "46082"], ["", "", ""], ["A-2", "1 Mar 2026", 'say "hi", then go']]
    assert grid_csv(header, rows, ["expiry_date"]).decode() == (
        'Item ID,Expiry Date,Notes\nA-1,2026-03-01,46082\n\nA-2,1 Mar 2026,"say ""hi"", then go"\n'
    )


# -- the sheet -----------------------------------------------------------------------------------------


def test_read_sheet_reads_the_first_tab_as_displayed(fake: FakeGoogle, google: GoogleSession) -> None:
    fake.add_sheet("book", "Registry", [["item_id", "expiry_date"], ["A-1", "46082"]])
    fake.add_sheet("book", "Other", [["x"]])
    assert read_sheet(google, "book", None, no_wait()) == (["item_id", "expiry_date"], [["A-1", "46082"]])
    [values] = fake.calls("/values/")
    assert values.query["valueRenderOption"] == "FORMATTED_VALUE"


def test_a_sheet_not_shared_says_whom_to_share_it_with(fake: FakeGoogle, google: GoogleSession) -> None:
    fake.add_sheet("book", "Registry", [["item_id"]])
    fake.unshare("book")
    with pytest.raises(SheetsError) as caught:
        read_sheet(google, "book", "Registry", no_wait())
    assert str(caught.value) == (
        f"Google Sheets refused the request (403): the service account has no access to the sheet — share it with {EMAIL}"
    )
    assert not caught.value.transient


def test_a_429_on_the_sheet_is_retried_with_backoff(fake: FakeGoogle, google: GoogleSession) -> None:
    fake.add_sheet("book", "Registry", [["item_id"], ["A-1"]])
    fake.fail("/values/", 429, times=2)
    retry = no_wait()
    assert read_sheet(google, "book", "Registry", retry)[1] == [["A-1"]]
    assert retry.waits == [0.75, 1.5]  # base 1 s doubling, times the jitter (0.5 + 0.5 / 2)
    assert len(fake.calls("/values/")) == 3


# -- docs ------------------------------------------------------------------------------------------------


def test_export_text_takes_out_the_byte_order_mark_and_windows_line_ends(
    fake: FakeGoogle, google: GoogleSession
) -> None:
    fake.add_doc("doc-1", "[default]\nfirst alert: 60 days before\n")
    assert (
        export_text(google, "doc-1", "the rules doc", no_wait()) == "[default]\nfirst alert: 60 days before\n"
    )
    [call] = fake.calls("/export")
    assert call.path == "/drive/v3/files/doc-1/export" and call.query["mimeType"] == "text/plain"


def test_a_doc_not_found_names_the_id_and_whom_to_share_it_with(
    fake: FakeGoogle, google: GoogleSession
) -> None:
    fake.add_doc("doc-1", "x")
    fake.unshare("doc-1")
    with pytest.raises(GoogleError) as caught:
        export_text(google, "doc-1", "the rules doc (doc-1)", no_wait())
    assert str(caught.value) == (
        "Google Drive refused the request (404): the rules doc (doc-1) was not found: check its ID, "
        f"and share it with {EMAIL} (Viewer is enough)"
    )
    assert (caught.value.status, caught.value.transient) == (404, False)


def test_a_403_names_whom_to_share_with_and_is_not_retried(fake: FakeGoogle, google: GoogleSession) -> None:
    fake.add_doc("doc-1", "x")
    fake.fail("/export", 403, reason="insufficientFilePermissions", message="The user does not have access.")
    retry = no_wait()
    with pytest.raises(GoogleError, match=f"no access to the rules doc: share it with {EMAIL}"):
        export_text(google, "doc-1", "the rules doc", retry)
    assert retry.waits == []


def test_a_disabled_api_says_to_enable_it(fake: FakeGoogle, google: GoogleSession) -> None:
    fake.add_doc("doc-1", "x")
    fake.fail("/export", 403, message="Google Drive API has not been used in project 42 before or it is disabled.",
              reason="accessNotConfigured")  # fmt: skip
    with pytest.raises(
        GoogleError, match="the Google Drive API is not enabled in the service account's Google Cloud project"
    ):
        export_text(google, "doc-1", "the rules doc", no_wait())


def test_rate_limit_403s_and_5xx_are_retried(fake: FakeGoogle, google: GoogleSession) -> None:
    fake.add_doc("doc-1", "hello")
    fake.fail("/export", 403, reason="userRateLimitExceeded")
    fake.fail("/export", 503)
    retry = no_wait()
    assert export_text(google, "doc-1", "the voice doc", retry) == "hello"
    assert len(retry.waits) == 2


def test_retries_stop_before_the_deadline(fake: FakeGoogle, google: GoogleSession) -> None:
    fake.add_doc("doc-1", "hello")
    fake.fail("/export", 500, times=10)
    clock = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    retry = Retry(deadline=103.0, sleep=sleep, clock=lambda: clock[0], rand=lambda: 0.5)
    with pytest.raises(GoogleError) as caught:
        export_text(google, "doc-1", "the voice doc", retry)
    assert caught.value.transient and caught.value.status == 500
    assert waits == [0.75, 1.5]  # the next wait (3 s) would end past the deadline: given up instead
    assert len(fake.calls("/export")) == 3


def test_the_service_account_json_must_be_whole() -> None:
    with pytest.raises(GoogleError, match="it has no private_key, token_uri"):
        GoogleSession({"client_email": EMAIL}, [DRIVE_READONLY])


# -- calendars -----------------------------------------------------------------------------------------


def test_a_first_read_returns_the_live_events_page_by_page_and_a_sync_token(
    fake: FakeGoogle, google: GoogleSession
) -> None:
    for n in range(5):
        fake.put_event(
            CAL, {"id": f"e{n}", "summary": f"Event {n}", "start": {"date": "2027-01-0" + str(n + 1)}}
        )
    fake.cancel_event(CAL, "e4")
    changes = changed_events(google, CAL, None, no_wait(), page_size=2)
    assert [e["id"] for e in changes.events] == ["e0", "e1", "e2", "e3"]
    assert len(fake.calls("/events")) == 2
    assert fake.calls("/events")[0].path == f"/calendar/v3/calendars/{CAL}/events"

    assert changed_events(google, CAL, changes.sync_token, no_wait()).events == []
    fake.put_event(CAL, {"id": "e1", "summary": "Event 1, moved", "start": {"date": "2027-02-01"}})
    fake.cancel_event(CAL, "e2")
    later = changed_events(google, CAL, changes.sync_token, no_wait())
    assert [(e["id"], e["status"]) for e in later.events] == [("e1", "confirmed"), ("e2", "cancelled")]
    assert later.sync_token != changes.sync_token


def test_an_expired_sync_token_asks_for_a_full_read(fake: FakeGoogle, google: GoogleSession) -> None:
    fake.put_event(CAL, {"id": "e0", "summary": "x", "start": {"date": "2027-01-01"}})
    token = changed_events(google, CAL, None, no_wait()).sync_token
    fake.expire_sync_tokens(CAL)
    with pytest.raises(SyncTokenExpired):
        changed_events(google, CAL, token, no_wait())


def test_a_calendar_not_shared_says_whom_to_share_it_with(fake: FakeGoogle, google: GoogleSession) -> None:
    fake.put_event(CAL, {"id": "e0", "summary": "x", "start": {"date": "2027-01-01"}})
    fake.unshare(CAL)
    with pytest.raises(GoogleError) as caught:
        changed_events(google, CAL, None, no_wait())
    assert str(caught.value) == (
        f"Google Calendar refused the request (404): the calendar {CAL} was not found: check its ID, "
        f"and share it with {EMAIL} (See all event details)"
    )
