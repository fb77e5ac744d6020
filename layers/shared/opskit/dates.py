"""Reading dates that people type into sheets and docs.

Accepted without configuration: ISO `2026-03-01`, `1 Mar 2026`, `1 March 2026`, `March 1, 2026`,
`Mar 1 2026` (month names in any case, ordinal suffixes like `1st` allowed). Numeric dates such as
`01/03/2026` mean different days in different countries, so they are read only when the caller says
which order the document uses; guessing would silently move deadlines by months.
"""

from __future__ import annotations

import datetime
import re

DATE_ORDERS = ("dmy", "mdy")

_EXAMPLE = "write it like 2026-03-01 or 1 Mar 2026"
_ORDER_WORDS = {"dmy": "day-month-year", "mdy": "month-day-year"}

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
# "1 Mar 2026", "1-Mar-2026" (a common spreadsheet display format), "1 March, 2026"
_DAY_FIRST = re.compile(_DAY + r"[\s-]+([a-z]+)\.?,?[\s-]+(\d+)", re.IGNORECASE)
# "March 1, 2026", "Mar 1 2026"
_MONTH_FIRST = re.compile(r"([a-z]+)\.?\s+" + _DAY + r",?\s+(\d+)", re.IGNORECASE)
# the separator must repeat, so "01/03-2026" is not taken for a date
_NUMERIC = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d+)")


def check_date_order(date_order: str | None) -> None:
    """A wrong order is a configuration mistake, not a problem in the document: fail loudly."""
    if date_order is not None and date_order not in DATE_ORDERS:
        raise ValueError(f'the date order must be "dmy" or "mdy" (or not set), not "{date_order}"')


def parse_date(text: str, date_order: str | None = None) -> datetime.date:
    """Read one date. Raises ValueError with a message meant for the person who typed it."""
    check_date_order(date_order)
    raw = text.strip()
    if not raw:
        raise ValueError(f"the date is empty: {_EXAMPLE}")

    if m := _ISO.fullmatch(raw):
        return _make(raw, int(m[1]), int(m[2]), int(m[3]))
    if m := _DAY_FIRST.fullmatch(raw):
        return _named(raw, m[3], m[2], m[1])
    if m := _MONTH_FIRST.fullmatch(raw):
        return _named(raw, m[3], m[1], m[2])
    if m := _NUMERIC.fullmatch(raw):
        return _numeric(raw, int(m[1]), int(m[3]), m[4], date_order)
    raise ValueError(f'"{raw}" is not a date: {_EXAMPLE}')


def _named(raw: str, year: str, month_name: str, day: str) -> datetime.date:
    month = _MONTHS.get(month_name.lower())
    if month is None:
        raise ValueError(f'"{raw}" is not a date: "{month_name}" is not a month name; {_EXAMPLE}')
    return _make(raw, _full_year(raw, year), month, int(day))


def _numeric(raw: str, first: int, second: int, year_text: str, order: str | None) -> datetime.date:
    year = _full_year(raw, year_text)
    if order is None:
        # day-month-year reading first; both are offered because only the author knows which is meant
        both = (_real(year, second, first), _real(year, first, second))
        readings = list(dict.fromkeys(d.isoformat() for d in both if d))
        if not readings:
            raise ValueError(f'"{raw}" is not a real date')
        raise ValueError(
            f'"{raw}" is ambiguous: set the date order (day-month-year or month-day-year) '
            f"or write it as {' or '.join(readings)}"
        )
    day, month = (first, second) if order == "dmy" else (second, first)
    found = _real(year, month, day)
    if found is None:
        raise ValueError(f'"{raw}" is not a real date when read as {_ORDER_WORDS[order]}')
    return found


def _full_year(raw: str, text: str) -> int:
    if len(text) == 2:
        raise ValueError(f'"{raw}" has a two-digit year: write the year in full, e.g. 2026')
    if len(text) != 4:
        raise ValueError(f'"{raw}" is not a date: {_EXAMPLE}')
    return int(text)


def _make(raw: str, year: int, month: int, day: int) -> datetime.date:
    found = _real(year, month, day)
    if found is None:
        raise ValueError(f'"{raw}" is not a real date')
    return found


def _real(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def human_date(d: datetime.date) -> str:
    """ "15 Dec 2026": unambiguous whatever side of the Atlantic the reader is on."""
    return f"{d.day} {d:%b %Y}"
