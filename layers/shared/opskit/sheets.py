"""One tab of a Google Sheet as a table: read it, find a row by a key column, change a few cells of a
row only if it still holds what the caller last saw, append a row.

Through the Sheets API v4 (google-api-python-client with its bundled discovery document, so building the
client makes no network call) and a service account. googleapiclient and google.auth are imported only
inside the functions that need them: a module that merely imports this one stays fast to load.

Every failure is a SheetsError with a message a person can act on; it never carries the credentials.
Row numbers are the ones the sheet shows: the header is row 1, the first data row is row 2.

    service = sheets_service(json.loads(secret))
    table = SheetTable(service, spreadsheet_id, "Registry")
    number, row = table.find_row("item_id", "INS-7")
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from typing import Any

from opskit.dates import parse_date
from opskit.google_api import GoogleError, _short, execute_as
from opskit.table import clean_cell, column_letter, normalise_column

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]

# What a service-account JSON must hold for google-auth to sign in with it.
_REQUIRED_FIELDS = ("client_email", "private_key", "token_uri")


class SheetsError(GoogleError):
    """Google Sheets did not do what was asked, or the sheet is not shaped as the caller needs.

    `status` is the HTTP status Google answered with, if any. `transient` is true when trying again later
    may well succeed (no answer in time, no connection, 429, 5xx). A GoogleError: a caller reading other
    Google APIs too catches both as one."""


class RowNotFound(SheetsError):
    """No row holds the key."""


class RowChanged(SheetsError):
    """The row no longer holds what the caller expected; nothing was written.

    `differences` lists (column, expected, found) for every column that differs."""

    def __init__(self, row: int, differences: list[tuple[str, str, str]]):
        self.row = row
        self.differences = differences
        said = "; ".join(
            f"{column} is {_shown(found)}, expected {_shown(expected)}"
            for column, expected, found in differences
        )
        super().__init__(f"row {row} has changed since it was read, so it was not updated: {said}")


def sheets_service(
    service_account_info: Mapping[str, Any], endpoint: str | None = None, timeout: float = 10
) -> Any:
    """A Sheets v4 client signed in as the service account. `endpoint` replaces
    https://sheets.googleapis.com/ (a local fake in tests); `timeout` bounds every request in seconds,
    the token request included. Not thread-safe (httplib2): one per thread."""
    missing = [field for field in _REQUIRED_FIELDS if not service_account_info.get(field)]
    if missing:
        raise SheetsError(f"the service account JSON is not usable: it has no {', '.join(missing)}")

    import google_auth_httplib2
    import httplib2
    from google.oauth2 import service_account
    from googleapiclient.discovery import build

    try:
        credentials = service_account.Credentials.from_service_account_info(
            dict(service_account_info), scopes=SCOPES
        )
    except Exception:
        # The library's own text may quote parts of the JSON: say what is wrong without it.
        raise SheetsError(
            "the service account JSON is not usable: its private key could not be read "
            "(paste the whole JSON file Google gave you, unchanged)"
        ) from None
    authorized = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=timeout))
    try:
        return build(
            "sheets",
            "v4",
            http=authorized,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": endpoint} if endpoint else None,
        )
    except Exception as error:
        raise SheetsError(f"the Google Sheets client could not be set up ({type(error).__name__})") from None


def quote_tab(tab: str) -> str:
    """A tab name as A1 notation needs it: always quoted, inner quotes doubled (`'Q1 ''26'`)."""
    return "'" + tab.replace("'", "''") + "'"


class SheetTable:
    """One tab of a spreadsheet; `tab` None means the first tab. `date_order` ("dmy"/"mdy") lets the
    unchanged-check read numeric dates (`01/03/2026`) the sheet's locale may display."""

    def __init__(
        self,
        service: Any,
        spreadsheet_id: str,
        tab: str | None = None,
        *,
        date_order: str | None = None,
    ):
        self.service = service
        self.spreadsheet_id = spreadsheet_id
        self._tab = tab
        self.date_order = date_order
        self._resources: dict[str, Any] = {}

    @property
    def tab(self) -> str:
        """The tab's title (the first tab's, looked up once, when none was given)."""
        if self._tab is None:
            request = self._spreadsheets().get(
                spreadsheetId=self.spreadsheet_id, fields="sheets.properties(title,index)"
            )
            sheets = self._execute(request).get("sheets") or []
            if not sheets:
                raise SheetsError(f"the spreadsheet {self.spreadsheet_id} has no tabs")
            first = min(sheets, key=lambda sheet: sheet.get("properties", {}).get("index", 0))
            self._tab = str(first["properties"]["title"])
        return self._tab

    def read(self) -> tuple[list[str], list[list[str]]]:
        """The header row and the data rows as the sheet displays them, each data row padded with "" to
        the header's width (cells right of the last header are kept)."""
        header, rows, _ = self._read()
        return header, rows

    def find_row(self, key_column: str, key: str) -> tuple[int, dict[str, str]]:
        """The row whose `key_column` holds `key` (both read as opskit.table.clean_cell reads cells; the
        column name compared as normalise_column does): its sheet row number and a dict from header text
        (as written) to cell text."""
        header, rows, first = self._read()
        return _find(header, rows, first, key_column, key)

    def update_if_unchanged(
        self, key_column: str, key: str, expected: Mapping[str, str], changes: Mapping[str, str]
    ) -> int:
        """Writes `changes` (column -> new text) into the row holding `key`, but only if every column in
        `expected` still holds the expected text (stripped; dates compared as dates). Returns the row.

        The row is read again just before writing, which narrows the window for a concurrent edit but
        cannot close it: Sheets has no conditional write. Values are entered as if typed (dates and
        numbers become dates and numbers) but never as formulas. If the row already holds every value
        in `changes` (a retry after a write that went through), nothing is written."""
        header, rows, first = self._read()
        number, _ = _find(header, rows, first, key_column, key)
        cells = rows[number - first - 1]
        targets = _placed(header, changes)
        if targets and all(self._same(_cell(cells, index), value) for index, value in targets.items()):
            return number
        differences = []
        for column, value in expected.items():
            found = _cell(cells, _column(header, column))
            if not self._same(found, str(value)):
                differences.append((column, clean_cell(str(value)), clean_cell(found)))
        if differences:
            raise RowChanged(number, differences)
        if not targets:
            return number
        data = [
            {"range": f"{quote_tab(self.tab)}!{column_letter(index)}{number}", "values": [[_as_typed(value)]]}
            for index, value in sorted(targets.items())
        ]
        request = self._values().batchUpdate(
            spreadsheetId=self.spreadsheet_id, body={"valueInputOption": "USER_ENTERED", "data": data}
        )
        self._execute(request)
        return number

    def header(self) -> list[str]:
        """Row 1 as the sheet shows it (one small read: to learn which columns the sheet has)."""
        request = self._values().get(spreadsheetId=self.spreadsheet_id, range=f"{quote_tab(self.tab)}!1:1")
        values = self._execute(request).get("values") or [[]]
        return [_text(cell) for cell in values[0]]

    def append(self, row: Mapping[str, str]) -> int:
        """Adds a row after the last one, its values placed under their headers (normalise_column matching;
        a key the header lacks is refused). Returns the new row's number."""
        header = self.header()
        if not any(cell.strip() for cell in header):
            raise SheetsError(f'the tab "{self.tab}" has no header row (row 1 is empty)')
        cells = [""] * len(header)
        for index, value in _placed(header, row).items():
            cells[index] = _as_typed(value)
        request = self._values().append(
            spreadsheetId=self.spreadsheet_id,
            range=f"{quote_tab(self.tab)}!A1",
            valueInputOption="USER_ENTERED",
            insertDataOption="INSERT_ROWS",
            body={"values": [cells]},
        )
        updated = str(self._execute(request).get("updates", {}).get("updatedRange", ""))
        number = _start_row(updated)
        if number is None:
            raise SheetsError("Google Sheets appended the row but did not say where")
        return number

    # -- internals -------------------------------------------------------------------------------

    def _spreadsheets(self) -> Any:
        # Made once: googleapiclient builds every method of a resource, docstrings included, from the
        # discovery document each time the resource is asked for (~50 ms).
        if "spreadsheets" not in self._resources:
            self._resources["spreadsheets"] = self.service.spreadsheets()
        return self._resources["spreadsheets"]

    def _values(self) -> Any:
        if "values" not in self._resources:
            self._resources["values"] = self._spreadsheets().values()
        return self._resources["values"]

    def _read(self) -> tuple[list[str], list[list[str]], int]:
        """(header, data rows, the header's row number)."""
        request = self._values().get(
            spreadsheetId=self.spreadsheet_id,
            range=quote_tab(self.tab),
            valueRenderOption="FORMATTED_VALUE",
            majorDimension="ROWS",
        )
        answer = self._execute(request)
        values = [[_text(cell) for cell in row] for row in answer.get("values") or []]
        first = _start_row(str(answer.get("range", ""))) or 1
        if not values:
            return [], [], first
        header, rows = values[0], values[1:]
        width = len(header)
        return header, [row + [""] * (width - len(row)) for row in rows], first

    def _same(self, found: str, expected: str) -> bool:
        a, b = clean_cell(found), clean_cell(expected)
        if a == b:
            return True
        date_a, date_b = _date(a, self.date_order), _date(b, self.date_order)
        return date_a is not None and date_a == date_b

    def _execute(self, request: Any) -> dict[str, Any]:
        answer = execute_as(request, SheetsError, self._http_error, api="Google Sheets")
        return answer if isinstance(answer, dict) else {}

    def _http_error(self, error: Any) -> SheetsError:
        status = int(getattr(error.resp, "status", 0) or 0)
        google_says = _google_message(error)
        if status == 403:
            if re.search(r"SERVICE_DISABLED|has not been used|is disabled", google_says + _content(error)):
                detail = (
                    "the Google Sheets API is not enabled in the service account's Google Cloud project "
                    "— enable it in the Cloud console"
                )
            else:
                email = _account_email(self.service)
                detail = "the service account has no access to the sheet — share it with " + (
                    email or "the service account's email (client_email in its JSON)"
                )
        elif status == 404:
            detail = f"there is no spreadsheet with the ID {self.spreadsheet_id} — check the ID"
        elif status == 400 and "Unable to parse range" in google_says and self._tab is not None:
            detail = f'the spreadsheet has no tab named "{self._tab}"'
        elif status == 401:
            detail = "the service account's credentials were not accepted"
        elif status == 429:
            detail = "too many requests; it will work again in a minute"
        elif status >= 500:
            return SheetsError(
                f"Google Sheets failed ({status}); try again later", status=status, transient=True
            )
        else:
            detail = _short(google_says) or "no reason given"
        return SheetsError(
            f"Google Sheets refused the request ({status}): {detail}", status=status, transient=status == 429
        )


def _find(
    header: list[str], rows: list[list[str]], first: int, key_column: str, key: str
) -> tuple[int, dict[str, str]]:
    wanted = clean_cell(key)
    if not wanted:
        raise SheetsError(f'no value given to look up in the column "{key_column}"')
    if not header:
        raise SheetsError("the sheet is empty: it has no header row")
    index = _column(header, key_column)
    found = [n for n, row in enumerate(rows) if clean_cell(_cell(row, index)) == wanted]
    if not found:
        raise RowNotFound(f'no row has "{wanted}" in the column "{key_column}"')
    numbers = [first + 1 + n for n in found]
    if len(found) > 1:
        listed = ", ".join(str(n) for n in numbers[:-1]) + f" and {numbers[-1]}"
        raise SheetsError(
            f'"{wanted}" appears more than once in the column "{key_column}" (rows {listed}); '
            "each value must appear only once"
        )
    row = rows[found[0]]
    values: dict[str, str] = {}
    for position, name in enumerate(header):
        if name.strip() and name not in values:
            values[name] = _cell(row, position)
    return numbers[0], values


def _column(header: list[str], name: str, *, first_of_doubled: bool = False) -> int:
    """The column `name` is in. A name the header has twice is refused where the answer must be
    unambiguous (a key, a value to compare); a value to write goes under the first of them, the one a
    table read with `opskit.table.read_table(used=...)` reads."""
    wanted = normalise_column(name)
    matches = [i for i, cell in enumerate(header) if wanted and normalise_column(cell) == wanted]
    if not matches:
        raise SheetsError(f'the sheet has no column "{name}"')
    if len(matches) > 1 and not first_of_doubled:
        letters = " and ".join(column_letter(i) for i in matches)
        raise SheetsError(f'the column "{name}" appears more than once in the header (columns {letters})')
    return matches[0]


def _placed(header: list[str], values: Mapping[str, str]) -> dict[int, str]:
    """Column index -> value; two keys naming one column are refused rather than one silently winning."""
    placed: dict[int, str] = {}
    names: dict[int, str] = {}
    for column, value in values.items():
        index = _column(header, column, first_of_doubled=True)
        if index in names:
            raise SheetsError(f'"{names[index]}" and "{column}" both name the column "{header[index]}"')
        names[index] = column
        placed[index] = str(value)
    return placed


def _cell(row: list[str], index: int) -> str:
    return row[index] if index < len(row) else ""


def _text(cell: Any) -> str:
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    return "" if cell is None else str(cell)


def _date(text: str, date_order: str | None) -> datetime.date | None:
    try:
        return parse_date(text, date_order)
    except ValueError:
        return None


_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")


def _as_typed(value: str) -> str:
    """USER_ENTERED without formulas: text a spreadsheet would run (`=…`, `+…`, `-…`, `@…`) or whose
    leading apostrophe it would swallow gets the apostrophe prefix that makes Sheets keep it as text
    (the prefix is not displayed)."""
    if value[:1] in ("=", "+", "-", "@", "'") and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _start_row(a1: str) -> int | None:
    """The first row of an A1 range such as `'My tab'!A7:F7` (7), or None."""
    cells = a1.rsplit("!", 1)[-1]
    match = re.match(r"\$?[A-Za-z]*\$?(\d+)", cells)
    return int(match.group(1)) if match else None


def _shown(value: str) -> str:
    return f'"{value}"' if value else "empty"


def _content(error: Any) -> str:
    content = getattr(error, "content", b"")
    if isinstance(content, bytes):
        return content.decode("utf-8", errors="replace")
    return str(content or "")


def _google_message(error: Any) -> str:
    """Google's own plain message from an error answer (`{"error": {"message": ...}}`)."""
    try:
        body = json.loads(_content(error))
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        if isinstance(message, str):
            return message
    except ValueError:
        pass
    return str(getattr(error, "reason", "") or "")


def _account_email(service: Any) -> str | None:
    """The service account's email, from the client sheets_service built."""
    credentials = getattr(getattr(service, "_http", None), "credentials", None)
    email = getattr(credentials, "service_account_email", None)
    return email if isinstance(email, str) and "@" in email else None
