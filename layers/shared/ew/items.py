"""The registry sheet: one row per thing that expires (DESIGN section 5).

A header without a required column, or with two columns the watcher reads under one name, makes the
whole sheet unusable (DocumentError). A column the watcher does not read that is doubled or has values
but no name is reported, and the sheet still runs. Everything else is judged row by row: a bad row is
reported in plain words and skipped, and the rest of the sheet still runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from types import MappingProxyType

from dateutil.relativedelta import relativedelta

from opskit.dates import check_date_order, parse_date
from opskit.problems import DocumentError, Problem
from opskit.table import TableRow, normalise_column, read_cells, read_table

REQUIRED = ("item_id", "item", "expiry_date", "owner")
OPTIONAL = (
    "category",
    "owner_email",
    "notice_date",
    "first_alert_days",
    "renewal_term",
    "notes",
    "renewal_link",
    "status",
    "last_renewed",
)
SCHEMA = REQUIRED + OPTIONAL
_SCHEMA_SET = frozenset(SCHEMA)
_DECIDING = tuple(column for column in SCHEMA if column != "notes")
STATUSES = ("active", "retired")
MAX_FIRST_ALERT_DAYS = 3650

_SLACK_USER = re.compile(r"[UW][A-Z0-9]{6,}")
# An address a mail server takes as written: the characters RFC 5322 allows unquoted before the @, a
# dotted domain. So "mailto:ana@acme.example", "<ana@acme.example>" or "ana@acme.example," are reported
# here instead of failing at the first send.
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_LINK = re.compile(r"https?://\S+", re.IGNORECASE)
_DAYS = re.compile(r"(\d+)(?:\s*days?)?", re.IGNORECASE)
# What Google Sheets and Excel show in a cell whose formula failed (a VLOOKUP that found nothing, a
# reference to a deleted row): never a value, however much it looks like an id or a name.
_SHEET_ERROR = re.compile(
    r"#(?:REF!|N/A|VALUE!|DIV/0!|NAME\?|NUM!|NULL!|ERROR!|SPILL!|CALC!|FIELD!|BLOCKED!|CONNECT!|BUSY!|"
    r"UNKNOWN!|GETTING_DATA)",
    re.IGNORECASE,
)


def sheet_error(text: str) -> str | None:
    """The plain-words problem when a cell shows a spreadsheet formula error (#REF!, #N/A, ...)."""
    if text[:1] != "#" or not _SHEET_ERROR.fullmatch(text):
        return None
    return (
        f"the cell shows {text.upper()}, the error of a formula that failed; "
        "fix the formula or type the value"
    )


def is_email(recipient: str) -> bool:
    """A recipient is an email address or a Slack user ID (the sheet's owner column is checked on read)."""
    return "@" in recipient


def channel_for(recipient: str) -> str:
    """`email` for an address, `slack` for a Slack user ID (DESIGN.md §7 resolves further at send time)."""
    return "email" if is_email(recipient) else "slack"


@dataclass(frozen=True)
class Item:
    item_id: str
    item: str
    expiry_date: date
    owner: str  # Slack user ID or email address
    row: int  # sheet row number (header = 1)
    category: str = ""
    owner_email: str = ""
    notice_date: date | None = None  # cancel-by deadline; when set the chain counts to it
    first_alert_days: int | None = None
    renewal_term: str = ""
    notes: str = ""
    renewal_link: str = ""
    status: str = "active"  # "active" or "retired", always lower-case
    last_renewed: date | None = None
    # columns the watcher does not know, kept so write-backs do not lose them; left out of the hash
    # (a dict is not hashable) but compared, so two items with different extras are not equal
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def anchor(self) -> date:
        return self.notice_date or self.expiry_date

    @property
    def owner_is_slack(self) -> bool:
        return _SLACK_USER.fullmatch(self.owner) is not None


@dataclass
class Registry:
    items: list[Item]
    # a column the watcher does not read, doubled or unnamed (where: "header"); then one per bad cell,
    # whose rows are not in items
    problems: list[Problem]
    columns: list[str]  # the sheet's normalised column names, extras included, in sheet order
    skipped_rows: int = 0  # rows left out for bad cells (header and sheet problems leave none out)

    def by_id(self) -> dict[str, Item]:
        """Built on each call (ids are unique after loading); keep the result when looking up many."""
        return {item.item_id: item for item in self.items}


def load_registry(
    data: bytes, filename: str = "registry.csv", date_order: str | None = None, source: str | None = None
) -> Registry:
    """`filename`'s suffix says how to read `data` (.csv or .xlsx); problems name `source` (default:
    `filename`), the document the person edits."""
    check_date_order(date_order)  # a configuration mistake, not something to blame on every row
    source = source or filename
    try:
        # Only the columns the watcher reads must be unambiguous: a scratch column doubled or left
        # without a name is reported, not a reason to stop watching every item. So is a second Notes
        # column: notes are free text shown on the card (the first is shown), they decide nothing.
        table = read_table(data, filename, source, used=_DECIDING)
    except DocumentError as exc:
        raise _header_below(data, filename, source) or exc from None
    missing = [col for col in REQUIRED if col not in table.columns]
    if missing:
        raise _header_below(data, filename, source) or DocumentError(
            [
                Problem(
                    source,
                    "header",
                    f"the header has no {col} column; the sheet needs item_id, item, expiry_date and owner",
                )
                for col in missing
            ]
        )

    rows_by_id: dict[str, list[int]] = {}
    for row in table.rows:
        if row.values["item_id"]:
            rows_by_id.setdefault(row.values["item_id"], []).append(row.number)

    items: list[Item] = []
    problems: list[Problem] = list(table.problems)
    cells = _CellReader(date_order)
    extra_columns = [col for col in table.columns if col not in _SCHEMA_SET]
    skipped = 0
    for row in table.rows:
        item, bad = _read_row(row, rows_by_id, cells, extra_columns)
        if bad:
            skipped += 1
            problems += [Problem(source, f"row {row.number}, column {col}", msg) for col, msg in bad.items()]
        if item is not None:
            items.append(item)
    if not table.rows:
        # Mirrored all the same (a new sheet starts empty), but said: a sheet whose rows were all
        # deleted by mistake would otherwise silence the watcher without anyone noticing.
        problems.append(Problem(source, "sheet", "there are no rows below the header: nothing is watched"))
    return Registry(items, problems, list(table.columns), skipped)


def _header_below(data: bytes, filename: str, source: str) -> DocumentError | None:
    """When row 1 is not the header: the problem that says where the column names are, if a title or
    a note above them pushed them down (the row numbers everyone reads count from the header)."""
    try:
        cells = read_cells(data, filename, source)
    except DocumentError:
        return None
    for number, row in enumerate(cells[1:10], start=2):
        if set(REQUIRED) <= {normalise_column(cell) for cell in row}:
            above = "row 1" if number == 2 else f"rows 1 to {number - 1}"
            return DocumentError(
                [
                    Problem(
                        source,
                        "header",
                        f"the column names must be in row 1, but they are in row {number}: delete {above} "
                        "(a title or a note) so that they move up to row 1",
                    )
                ]
            )
    return None


class _CellReader:
    """Reads and checks cell values, each distinct text once per sheet: a registry repeats its dates,
    owners, terms and day counts thousands of times, and each check gives the same answer every time
    (a value, or the plain-words problem)."""

    def __init__(self, date_order: str | None) -> None:
        self._date_order = date_order
        self._dates: dict[str, date | str] = {}
        self._owners: dict[str, str | None] = {}
        self._emails: dict[str, bool] = {}
        self._terms: dict[str, str | None] = {}
        self._days: dict[str, int | None] = {}

    def day(self, text: str) -> date | str:
        """The date, or the problem as a message."""
        found = self._dates.get(text)
        if found is None:
            try:
                found = parse_date(text, self._date_order)
            except ValueError as exc:
                found = sheet_error(text) or str(exc)
            self._dates[text] = found
        return found

    def owner_problem(self, owner: str) -> str | None:
        if owner not in self._owners:
            valid = _SLACK_USER.fullmatch(owner) or _EMAIL.fullmatch(owner)
            message = f'"{owner}" is not a Slack user ID (like U012ABCDEF) or an email address'
            self._owners[owner] = None if valid else sheet_error(owner) or message
        return self._owners[owner]

    def is_email(self, text: str) -> bool:
        if text not in self._emails:
            self._emails[text] = _EMAIL.fullmatch(text) is not None
        return self._emails[text]

    def term_problem(self, term: str) -> str | None:
        if term not in self._terms:
            try:
                parse_term(term)
                self._terms[term] = None
            except ValueError as exc:
                self._terms[term] = str(exc)
        return self._terms[term]

    def first_alert_days(self, text: str) -> int | None:
        """The number of days, or None when the text is not one."""
        if text not in self._days:
            match = _DAYS.fullmatch(text)
            self._days[text] = int(match[1]) if match and int(match[1]) <= MAX_FIRST_ALERT_DAYS else None
        return self._days[text]


_NO_EXTRA: Mapping[str, str] = MappingProxyType({})


def _read_row(
    row: TableRow, rows_by_id: Mapping[str, list[int]], cells: _CellReader, extra_columns: list[str]
) -> tuple[Item | None, dict[str, str]]:
    """The item (None when the row is skipped) and the problems as column -> message, in schema order."""
    values = row.values
    get = values.get
    bad: dict[str, str] = {}

    def read_date(col: str) -> date | None:
        text = get(col, "")
        if not text:
            return None
        found = cells.day(text)
        if isinstance(found, str):
            bad[col] = found
            return None
        return found

    item_id = get("item_id", "")
    if not item_id:
        bad["item_id"] = "the item_id is empty; every row needs its own id"
    elif error := sheet_error(item_id):
        bad["item_id"] = error
    elif len(rows_by_id[item_id]) > 1:
        bad["item_id"] = (
            f'item_id "{item_id}" is used by rows {_and(rows_by_id[item_id])}; each item needs its own id'
        )
    name = get("item", "")
    if not name:
        bad["item"] = "the item is empty; say what expires, e.g. Office lease"
    elif error := sheet_error(name):
        bad["item"] = error
    category = get("category", "")
    if error := sheet_error(category):
        bad["category"] = error  # else the item would quietly get the [default] rules

    status_text = get("status", "")
    status = status_text.lower() or "active"
    # A retired row is never alerted, so its expiry date does not matter: a blank or unreadable one is
    # tolerated and the row is then left out quietly (nothing to load without a date). Every other
    # column of a retired row is still checked, so its problems are reported like any other row's.
    retired = status == "retired"
    expiry = read_date("expiry_date")
    if not get("expiry_date", ""):
        bad["expiry_date"] = "the expiry_date is empty; write it like 2026-03-01 or 1 Mar 2026"
    if retired:
        bad.pop("expiry_date", None)

    owner = get("owner", "")
    if not owner:
        bad["owner"] = "the owner is empty; write a Slack user ID (like U012ABCDEF) or an email address"
    else:
        problem = cells.owner_problem(owner)
        if problem:
            bad["owner"] = problem
    owner_email = get("owner_email", "")
    if owner_email and not cells.is_email(owner_email):
        bad["owner_email"] = f'"{owner_email}" is not an email address'

    notice = read_date("notice_date")
    if notice and expiry and notice > expiry:
        bad["notice_date"] = (
            f"the notice_date {notice.isoformat()} is after the expiry_date {expiry.isoformat()}; "
            "the notice date is the last day to cancel and must be on or before the expiry"
        )

    first_alert: int | None = None
    first_alert_text = get("first_alert_days", "")
    if first_alert_text:
        first_alert = cells.first_alert_days(first_alert_text)
        if first_alert is None:
            bad["first_alert_days"] = (
                f'"{first_alert_text}" is not a whole number of days from 0 to {MAX_FIRST_ALERT_DAYS}'
            )

    term = get("renewal_term", "")
    if term:
        problem = cells.term_problem(term)
        if problem:
            bad["renewal_term"] = problem
    link = get("renewal_link", "")
    if link and not _LINK.fullmatch(link):
        bad["renewal_link"] = f'"{link}" is not a web link; it should start with https://'
    if status not in STATUSES:
        bad["status"] = f'"{status_text}" is not a status; write active or retired (blank means active)'
    last_renewed = read_date("last_renewed")

    if bad or expiry is None:
        return None, {col: bad[col] for col in SCHEMA if col in bad}
    extra = MappingProxyType({col: values[col] for col in extra_columns}) if extra_columns else _NO_EXTRA
    item = _new_item(
        {
            "item_id": item_id,
            "item": name,
            "expiry_date": expiry,
            "owner": owner,
            "row": row.number,
            "category": category,
            "owner_email": owner_email,
            "notice_date": notice,
            "first_alert_days": first_alert,
            "renewal_term": term,
            "notes": get("notes", ""),
            "renewal_link": link,
            "status": status,
            "last_renewed": last_renewed,
            "extra": extra,
        }
    )
    return item, {}


_ITEM_FIELDS = frozenset(f.name for f in fields(Item))
_new_object = object.__new__
_set = object.__setattr__


def _new_item(values: dict[str, object]) -> Item:
    """`Item(**values)` for a row already checked, at a quarter of the cost: a frozen dataclass sets
    each of its 15 fields through object.__setattr__, which was a fifth of a 100,000-row load. Every
    field must be given (tests/unit/test_items.py compares it with the constructor)."""
    if values.keys() != _ITEM_FIELDS:
        raise TypeError(f"an Item needs exactly the fields {sorted(_ITEM_FIELDS)}")
    item: Item = _new_object(Item)
    _set(item, "__dict__", values)
    return item


def item_to_row(item: Item) -> dict[str, str]:
    """Every schema column (ISO dates, blanks for unset values), then the extra columns."""
    row = {
        "item_id": item.item_id,
        "item": item.item,
        "expiry_date": item.expiry_date.isoformat(),
        "owner": item.owner,
        "category": item.category,
        "owner_email": item.owner_email,
        "notice_date": item.notice_date.isoformat() if item.notice_date else "",
        "first_alert_days": "" if item.first_alert_days is None else str(item.first_alert_days),
        "renewal_term": item.renewal_term,
        "notes": item.notes,
        "renewal_link": item.renewal_link,
        "status": item.status,
        "last_renewed": item.last_renewed.isoformat() if item.last_renewed else "",
    }
    row.update({col: value for col, value in item.extra.items() if col not in row})
    return row


# --- renewal terms -------------------------------------------------------------------------------

DEFAULT_TERM = "1 year"  # the renewal term when the sheet gives none (or one that does not parse)

_UNITS = {
    **dict.fromkeys(("year", "years", "yr", "yrs"), "year"),
    **dict.fromkeys(("month", "months", "mo", "mos"), "month"),
    **dict.fromkeys(("week", "weeks", "wk", "wks"), "week"),
    **dict.fromkeys(("day", "days"), "day"),
}
_WORDS = {
    "annual": (1, "year"),
    "annually": (1, "year"),
    "yearly": (1, "year"),
    "quarterly": (3, "month"),
    "monthly": (1, "month"),
    "weekly": (1, "week"),
}
# about a century in each unit: longer is surely a typo, and it keeps date arithmetic far from year 9999
_LONGEST = {"year": 100, "month": 1200, "week": 5200, "day": 36500}
_TERM = re.compile(r"(\d+)\s*([a-z]+)\.?")


def parse_term(text: str) -> tuple[int, str]:
    """ "2 years" -> (2, "year"); units are "year", "month", "week" or "day"."""
    low = " ".join(text.lower().split())
    if low in _WORDS:
        return _WORDS[low]
    match = _TERM.fullmatch(low)
    if not match or match[2] not in _UNITS:
        raise ValueError(
            f'"{text.strip()}" is not a renewal term: write it like 1 year, 6 months, 90 days or 2 weeks'
        )
    count, unit = int(match[1]), _UNITS[match[2]]
    if not 1 <= count <= _LONGEST[unit]:
        raise ValueError(f'"{text.strip()}" is not a usable renewal term: use 1 to {_LONGEST[unit]} {unit}s')
    return count, unit


def add_term(d: date, term: str) -> date:
    """The date one term after d. Months and years keep the day of the month, clamped to the month's end
    (31 Jan + 1 month = 28 or 29 Feb; 29 Feb 2028 + 1 year = 28 Feb 2029)."""
    count, unit = parse_term(term)
    result: date = d + relativedelta(**{f"{unit}s": count})
    return result


def _and(numbers: list[int]) -> str:
    """[4, 9, 12] -> "4, 9 and 12"."""
    words = [str(n) for n in numbers]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def item_from_row(row: Mapping[str, str], number: int = 0) -> Item:
    """The inverse of `item_to_row`, for an item carried in an event (ISO dates, already validated)."""

    def day(col: str) -> date | None:
        return date.fromisoformat(row[col]) if row.get(col) else None

    known = set(SCHEMA)
    expiry = day("expiry_date")
    if expiry is None:
        raise ValueError(f"item {row.get('item_id')!r} carries no expiry_date")
    return Item(
        item_id=row["item_id"],
        item=row["item"],
        expiry_date=expiry,
        owner=row["owner"],
        row=number,
        category=row.get("category", ""),
        owner_email=row.get("owner_email", ""),
        notice_date=day("notice_date"),
        first_alert_days=int(row["first_alert_days"]) if row.get("first_alert_days") else None,
        renewal_term=row.get("renewal_term", ""),
        notes=row.get("notes", ""),
        renewal_link=row.get("renewal_link", ""),
        status=row.get("status", "active") or "active",
        last_renewed=day("last_renewed"),
        extra={k: v for k, v in row.items() if k not in known},
    )
