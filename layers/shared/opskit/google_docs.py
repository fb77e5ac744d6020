"""The documents people edit in Google, read as a service account: a Sheets tab as CSV bytes (dates as
the sheet shows them, serial numbers understood), a Google Doc as plain text (Drive export), and the
events of a calendar changed since the last read (Calendar incremental sync).

Every call goes through `opskit.google_api`: plain-words GoogleError, transient failures retried
inside the caller's deadline.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any

from opskit.google_api import GoogleError, GoogleSession, Retry, execute
from opskit.sheets import SheetTable
from opskit.table import normalise_column

# Sheets (like Excel) counts days from 30 Dec 1899: serial 1 is 31 Dec 1899, 46082 is 1 Mar 2026.
SHEETS_EPOCH = date(1899, 12, 30)
# A bare number in a date column is read as a serial date only between 1 Jan 1970 and 31 Dec 2199, so
# a year typed alone ("2026") or a stray small number stays a visible mistake instead of a 1905 date.
_SERIAL_RANGE = (25569, 109574)
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_EVENT_FIELDS = (
    "nextPageToken,nextSyncToken,"
    "items(id,status,summary,description,start,end,organizer,creator,htmlLink,updated,recurrence)"
)


def serial_date(text: str) -> date | None:
    """The date a spreadsheet serial number stands for ("46082" or "46,082.5" -> 2026-03-01), or None
    when the text is not a plausible one. A fraction (the time of day) is dropped."""
    cell = text.strip()
    if not _NUMBER.fullmatch(cell):
        return None
    number = float(cell.replace(",", ""))
    if not _SERIAL_RANGE[0] <= number <= _SERIAL_RANGE[1]:
        return None
    return SHEETS_EPOCH + timedelta(days=int(number))


def grid_csv(header: list[str], rows: list[list[str]], date_columns: Collection[str] = ()) -> bytes:
    """A tab's cells as UTF-8 CSV, the header row first. Blank rows are kept (as empty lines), so row
    numbers read from the CSV are the ones the sheet shows. In the columns named by `date_columns`
    (compared as opskit.table normalises headers), a serial number becomes an ISO date: a date cell
    formatted as a number shows as one."""
    wanted = {normalise_column(name) for name in date_columns}
    dated = [i for i, name in enumerate(header) if normalise_column(name) in wanted]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        if not any(cell.strip() for cell in row):
            writer.writerow([])
            continue
        if dated:
            row = list(row)
            for i in dated:
                if i < len(row):
                    day = serial_date(row[i])
                    if day is not None:
                        row[i] = day.isoformat()
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def read_sheet(
    google: GoogleSession, spreadsheet_id: str, tab: str | None, retry: Retry
) -> tuple[list[str], list[list[str]]]:
    """The tab's header and data rows as the sheet displays them (`tab` None: the first tab).
    Raises opskit.sheets.SheetsError, whose words say what to share with whom."""
    table = SheetTable(google.service("sheets", "v4"), spreadsheet_id, tab or None)
    return retry.run(table.read)


def export_text(google: GoogleSession, file_id: str, what: str, retry: Retry) -> str:
    """A Google Doc as plain text (Drive files.export, text/plain), with Windows line ends and the byte
    order mark Google puts in front taken out."""
    hint = f"share it with {google.client_email} (Viewer is enough)"
    files = google.service("drive", "v3").files()
    data = retry.run(lambda: execute(files.export(fileId=file_id, mimeType="text/plain"), what, hint))
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data or "")
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


class SyncTokenExpired(GoogleError):
    """The calendar's sync token is no longer valid (HTTP 410): read every event again."""


@dataclass(frozen=True)
class EventChanges:
    events: list[dict[str, Any]]  # as the Calendar API gives them; cancelled ones have status "cancelled"
    sync_token: str  # pass it next time to get only what changed after this read


def changed_events(
    google: GoogleSession, calendar_id: str, sync_token: str | None, retry: Retry, page_size: int = 250
) -> EventChanges:
    """Every event of the calendar changed since `sync_token` (deleted ones included, as "cancelled"),
    or with no token every event there is now; each page is retried on its own. Recurring events come
    as one event (singleEvents off), so a yearly reminder is one event, not one per year."""
    what = f"the calendar {calendar_id}"
    hint = f"share it with {google.client_email} (See all event details)"
    events = google.service("calendar", "v3").events()
    found: list[dict[str, Any]] = []
    page: str | None = None
    while True:
        params: dict[str, Any] = {"calendarId": calendar_id, "maxResults": page_size, "fields": _EVENT_FIELDS}
        if sync_token:
            params["syncToken"] = sync_token
        if page:
            params["pageToken"] = page
        try:
            answer = retry.run(partial(_list_page, events, params, what, hint))
        except GoogleError as error:
            if error.status == 410:
                raise SyncTokenExpired(
                    f"the sync token of {what} has expired: a full read is needed",
                    status=410,
                    reason=error.reason,
                ) from None
            raise
        found.extend(item for item in answer.get("items") or [] if isinstance(item, dict))
        page = answer.get("nextPageToken")
        if not page:
            token = answer.get("nextSyncToken")
            if not token:
                raise GoogleError(f"Google Calendar gave no sync token for {what}")
            return EventChanges(found, str(token))


def _list_page(events: Any, params: dict[str, Any], what: str, hint: str) -> dict[str, Any]:
    answer = execute(events.list(**params), what, hint)
    return answer if isinstance(answer, dict) else {}
