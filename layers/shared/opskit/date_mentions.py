"""Finding the dates written in running text (documents, mail), in the formats opskit.dates reads.

`find_dates` returns every date mention with its position. Each candidate is checked by
`opskit.dates.parse_date`, the same reader the sheet uses, so a date "found in a text" means the same
thing everywhere: ISO `2026-03-01` (a time may follow), `1 Mar 2026`, `1st March, 2026`,
`1st day of March 2026`, `1-Mar-2026`, `March 1, 2026`, `Mar. 1st 2026`; numeric `01/03/2026`,
`01.03.2026` or `01-03-2026` only when the caller gives the date order (DESIGN.md §5).
Text also writes year first with slashes or dots (`2026/03/01`, `2026.03.01`, a certificate's habit):
year first is always year-month-day, so these are read as ISO with no date order. Compact `20260301`
is not: any eight-digit reference (a policy or invoice number) would pass for a date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from opskit.dates import check_date_order, parse_date

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])"
)
_ORDINAL = r"(?:st|nd|rd|th)?"
_PATTERN = re.compile(
    rf"""
    (?<![\w/.-])(?P<iso_y>\d{{4}})(?P<iso_sep>[/.-])(?P<iso_m>\d{{1,2}})(?P=iso_sep)(?P<iso_d>\d{{1,2}})
        (?!\d|[/.-]\d)
  | (?<![\w.])(?P<df_d>\d{{1,2}}){_ORDINAL}(?:\s+day)?(?:\s+of)?[\s-]+(?P<df_m>{_MONTH})\.?,?[\s-]+
        (?P<df_y>\d{{4}})(?!\d)
  | (?<![\w])(?P<mf_m>{_MONTH})\.?\s+(?:the\s+)?(?P<mf_d>\d{{1,2}}){_ORDINAL},?\s+(?P<mf_y>\d{{4}})(?!\d)
  | (?<![\w/.-])(?P<n_a>\d{{1,2}})(?P<sep>[/.-])(?P<n_b>\d{{1,2}})(?P=sep)(?P<n_y>\d{{4}})(?!\d|[/.-]\d)
    """,
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(frozen=True)
class DateMention:
    start: int  # text[start:end] is the date as written
    end: int
    text: str
    date: date
    numeric: bool = False  # written as 01/03/2026 (read with the caller's date order)


def find_dates(text: str, date_order: str | None = None) -> list[DateMention]:
    """Every real date written in `text`, in order. Numeric dates are skipped without a date order."""
    check_date_order(date_order)
    found = []
    for match in _PATTERN.finditer(text):
        groups = match.groupdict()
        numeric = False
        if groups["iso_y"]:
            candidate, order = f"{groups['iso_y']}-{groups['iso_m']}-{groups['iso_d']}", None
        elif groups["df_y"]:
            candidate, order = f"{groups['df_d']} {groups['df_m']} {groups['df_y']}", None
        elif groups["mf_y"]:
            candidate, order = f"{groups['mf_d']} {groups['mf_m']} {groups['mf_y']}", None
        else:
            if date_order is None:
                continue
            candidate, order, numeric = f"{groups['n_a']}/{groups['n_b']}/{groups['n_y']}", date_order, True
        try:
            day = parse_date(candidate, order)
        except ValueError:
            continue  # 31 February, a month-like word that is not a month
        found.append(DateMention(match.start(), match.end(), match.group(0), day, numeric))
    return found


def count_numeric_dates(text: str) -> int:
    """How many numeric dates (01/03/2026) the text has: they are read only with a date order."""
    return sum(1 for m in _PATTERN.finditer(text) if m.group("n_y"))


def dates_in(text: str, date_order: str | None = None) -> set[date]:
    return {mention.date for mention in find_dates(text, date_order)}
