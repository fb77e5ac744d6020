"""Reading a spreadsheet export (CSV or XLSX) into rows keyed by column name.

Row numbers are the ones the person sees in the sheet (the header is row 1), so every problem
reported later can point at the right row even when blank rows are skipped.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from opskit.problems import DocumentError, Problem


@dataclass
class TableRow:
    number: int  # as the sheet shows it: header is row 1, the first data row is 2
    values: dict[str, str]  # normalised column name -> stripped cell text


@dataclass
class Table:
    header: list[str]  # header texts as written
    columns: list[str]  # normalised names, same order as header
    rows: list[TableRow]
    # problems in columns the reader does not use (see read_table's `used`): the table is still usable
    problems: list[Problem] = field(default_factory=list)


# Stripped from both ends of every cell and header: whitespace of any kind (a non-breaking space from a
# web page) and the invisible characters copy-paste brings along (zero-width space and joiners, word
# joiner, a byte order mark, a soft hyphen), which would otherwise make "U04ABCDEF" fail to match.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
# Every character str.isspace() accepts (Python 3.11-3.13; tests/unit/test_table.py checks), written out:
# finding them at import time scanned 12,289 characters on every cold start, clicks included.
_SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_BLANKS = _SPACES + _INVISIBLE


def clean_cell(text: str) -> str:
    """A cell's text as the watcher reads it: without blanks or invisible characters at either end."""
    return text.strip(_BLANKS)


_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")  # itemId, ItemID, IDNumber
_SEPARATORS = re.compile(r"[\s_-]+")


def normalise_column(name: str) -> str:
    """The one rule for header names, in exported files and live sheets (opskit.sheets) alike, so people
    may write them the way they like: "Item ID", "item_id", "ItemID", " ITEM-ID ", "Item ID:" ->
    "item_id" (a label's colon and a "required" asterisk are not part of the name)."""
    words = _WORD_BREAK.sub("_", clean_cell(name).rstrip(_BLANKS + ":*"))
    return _SEPARATORS.sub("_", words).strip("_").lower()


def read_table(
    data: bytes, filename: str, source: str | None = None, *, used: Collection[str] | None = None
) -> Table:
    """The file as rows keyed by normalised column name. Two columns of one name, or values under a
    column with no name, raise DocumentError, unless `used` (the column names the caller reads, written
    as it likes: they are normalised) is given and the column is not one of them: then the table is
    still usable, the first column of the name is the one read, values under no name are left out, and
    each such problem is in `Table.problems` for the caller to report."""
    source = source or filename
    wanted = None if used is None else {normalise_column(name) for name in used}
    return _to_table(read_cells(data, filename, source), source, wanted)


def read_cells(data: bytes, filename: str, source: str | None = None) -> list[list[str]]:
    """Every row of the file (the first sheet of a workbook) as stripped cell texts, blank rows kept:
    the grid as the sheet shows it, before any header is looked for."""
    source = source or filename
    kind = PurePath(filename).suffix.lower()
    if kind == ".csv":
        return _csv_cells(data, source)
    if kind == ".xlsx":
        return _xlsx_cells(data, source)
    raise _error(
        source, "file", f'"{filename}" is not a .csv or .xlsx file; export the sheet as one of those'
    )


def write_csv(columns: list[str], rows: list[dict[str, str]]) -> bytes:
    """UTF-8 CSV. A key that is not in `columns` raises ValueError rather than being dropped."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, restval="", extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _csv_cells(data: bytes, source: str) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel on Windows saves "CSV" as cp1252; "replace" keeps the few undefined bytes from failing it.
        text = data.decode("cp1252", errors="replace")
    try:
        # Stripped as read: one list per row, not a raw one and a stripped copy (a 300,000-row sheet).
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
        if any(c in text for c in _INVISIBLE):  # rare: the slower strip, only when it has work to do
            return [[cell.strip(_BLANKS) for cell in row] for row in rows]
        return [list(map(str.strip, row)) for row in rows]
    except csv.Error as exc:
        raise _error(source, "file", f"could not read the file as CSV ({exc})") from exc


def _delimiter(text: str) -> str:
    """ "," unless the first line has none but has ";" (Excel saves CSV so where the decimal mark is a
    comma) or a tab (a sheet copied as text)."""
    start = len(text) - len(text.lstrip("\r\n")) if text[:1] in "\r\n" else 0
    end = text.find("\n", start)
    first = text[start : end if end >= 0 else len(text)]
    if "," in first:
        return ","
    return ";" if ";" in first else "\t" if "\t" in first else ","


def _xlsx_cells(data: bytes, source: str) -> list[list[str]]:
    # Anything may be inside an uploaded "xlsx" (a renamed PDF, a truncated zip, a broken part), and
    # openpyxl raises many different exception types for those, so every failure becomes a plain problem.
    try:
        from openpyxl import load_workbook  # here, not at the top: only .xlsx readers pay its import

        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            if not book.worksheets:
                raise _error(source, "file", "the workbook has no worksheet")
            sheet: Any = book.worksheets[0]
            # exported workbooks often carry a wrong size record; without this, cells beyond it are lost
            if hasattr(sheet, "reset_dimensions"):
                sheet.reset_dimensions()
            return [[clean_cell(_cell_text(v)) for v in row] for row in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
    except DocumentError:
        raise
    except Exception as exc:
        raise _error(
            source, "file", "could not read the file as an Excel workbook; save it again as .xlsx and retry"
        ) from exc


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores every number as a float: 5 must not become "5.0"
    return str(value)


def _to_table(cells: list[list[str]], source: str, used: Collection[str] | None) -> Table:
    """`cells` come stripped."""
    numbered = list(enumerate(cells, start=1))
    if not any(any(row) for _, row in numbered):
        raise _error(source, "file", "the file is empty; the first row should hold the column names")
    header = numbered[0][1]
    if not any(header):
        raise _error(source, "row 1", "row 1 is blank; it should hold the column names")

    columns = [normalise_column(h) for h in header]
    found = _duplicates(header, columns, source, used)
    blocking = [problem for tolerated, problem in found if not tolerated]
    if blocking:
        raise DocumentError(blocking)
    unnamed = _unnamed(columns, numbered[1:], source, used is not None)
    if unnamed and used is None:
        raise DocumentError(unnamed)
    # The columns read: every named one, the first of each name (a later one of the same name is a
    # problem above: raised, or reported when it is not a column the caller uses).
    first = {col: i for i, col in reversed(list(enumerate(columns))) if col}
    kept = sorted(first.values())
    width = len(columns)
    if len(kept) == width:  # the usual sheet: every column named once, so a row is its cells under the names
        padding = [""] * width
        rows = [
            # Cells beyond the header are not values (reported by _unnamed): not strict.
            TableRow(number, dict(zip(columns, row + padding[len(row) :], strict=False)))
            for number, row in numbered[1:]
            if any(row)
        ]
    else:
        rows = [
            TableRow(number, {columns[i]: row[i] if i < len(row) else "" for i in kept})
            for number, row in numbered[1:]
            if any(row)
        ]
    problems = [problem for _, problem in found] + unnamed
    return Table([header[i] for i in kept], [columns[i] for i in kept], rows, problems)


def _duplicates(
    header: Sequence[str], columns: Sequence[str], source: str, used: Collection[str] | None
) -> list[tuple[bool, Problem]]:
    """(tolerated, the problem) for each column named like one before it. Tolerated when the name is
    not one the caller uses: the table is read anyway, and the message says which column is read."""
    first_seen: dict[str, int] = {}
    problems = []
    for i, col in enumerate(columns):
        if not col:
            continue
        if col not in first_seen:
            first_seen[col] = i
            continue
        j = first_seen[col]
        a, b = column_letter(j), column_letter(i)
        tolerated = used is not None and col not in used
        read = f"column {a} is read and column {b} is left out; " if tolerated else ""
        message = (
            f'columns {a} ("{header[j]}") and {b} ("{header[i]}") have the same name; '
            f"{read}each column needs its own name"
        )
        problems.append((tolerated, Problem(source, "header", message)))
    return problems


def _unnamed(
    columns: Sequence[str], rows: Iterable[tuple[int, list[str]]], source: str, tolerated: bool
) -> list[Problem]:
    """Values under a column with no name would be lost without anyone noticing: a problem for each
    such column (`tolerated`: the table is read anyway, without them, and the message says so)."""
    first_value: dict[int, int] = {}
    unnamed = [i for i, col in enumerate(columns) if not col]
    width = len(columns)
    for number, row in rows:
        # Only the cells under no name: those of unnamed columns, and any beyond the header.
        for i in unnamed:
            if i < len(row) and row[i]:
                first_value.setdefault(i, number)
        for i in range(width, len(row)):
            if row[i]:
                first_value.setdefault(i, number)
    left_out = ", so they are left out" if tolerated else ""
    return [
        Problem(
            source,
            "header",
            f"column {column_letter(i)} has values (the first in row {number}) but no name in row 1"
            f"{left_out}; give it a name or clear it",
        )
        for i, number in sorted(first_value.items())
    ]


def _error(source: str, where: str, message: str) -> DocumentError:
    return DocumentError([Problem(source, where, message)])


def column_letter(index: int) -> str:
    """The letters a spreadsheet shows for a 0-based column index: 0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters
