"""Business time: quiet hours, weekends, public holidays and closed days, in one configured timezone.

Answers "may a message go out now, and if not, when?" DST-correctly. Decisions are made on local wall-clock
time (quiet hours and days are wall-clock ideas) and only converted to real instants at the end, so a
deferred 08:00 is 08:00 on the clock on either side of a daylight-saving change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from holidays import HolidayBase


# Give up looking for business time after this many days: a calendar closed that long is a config mistake.
MAX_SEARCH_DAYS = 366

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")  # not locale's


@dataclass(frozen=True)
class QuietHours:
    """Wall-clock window with no messages. start inclusive, end exclusive; start > end wraps midnight;
    start == end means no quiet hours at all."""

    start: time
    end: time

    def contains(self, t: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


DEFAULT_QUIET_HOURS = QuietHours(time(19, 0), time(8, 0))

# "19:00-08:00"; a hyphen, an en dash or an em dash between the two times.
_QUIET_RE = re.compile(r"(\d{1,2}):(\d{2})\s*[-\u2013\u2014]\s*(\d{1,2}):(\d{2})")


def parse_quiet_hours(text: str) -> QuietHours:
    """Read "19:00-08:00" (an en dash and spaces around it are fine)."""
    match = _QUIET_RE.fullmatch(text.strip())
    if match:
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60:
            return QuietHours(time(h1, m1), time(h2, m2))
    raise ValueError(f'quiet hours must look like 19:00-08:00, found "{text.strip()}"')


# Every country and region code the pinned `holidays` package supports, with their aliases (UK for
# GB), in the package's own spelling and order: `holidays.list_supported_countries()` as a file. Asking
# the package itself imports all of its 279 countries (about half a second: its countries package
# imports every country module, and any country's class loads it), which every click's settings check
# would pay; the file is read in a millisecond. tests/unit/test_business_time.py checks it against the
# installed package (and says how to write it again after an upgrade).
HOLIDAY_REGIONS_FILE = Path(__file__).with_name("holiday_regions.json")


@cache
def supported_holiday_regions() -> dict[str, list[str]]:
    regions: dict[str, list[str]] = json.loads(HOLIDAY_REGIONS_FILE.read_text(encoding="utf-8"))["regions"]
    return regions


def parse_holiday_region(text: str | None) -> tuple[str | None, str | None]:
    """Read "GB", "GB-ENG", "us-ny" into (country, subdivision) as the `holidays` package spells them."""
    if not text or not text.strip():
        return None, None
    country_text, dash, subdivision_text = text.strip().partition("-")
    supported = supported_holiday_regions()
    country = country_text.strip().upper()
    if country not in supported:
        raise ValueError(
            f'unknown holiday country "{country_text.strip()}": use a two-letter code such as US, GB or DE'
        )
    if not dash:
        return country, None
    regions = supported[country]
    wanted = subdivision_text.strip()
    for region in regions:  # case-insensitive, but return the package's own spelling
        if region.upper() == wanted.upper():
            return country, region
    if not regions:
        raise ValueError(f'unknown region "{wanted}" for {country}: {country} has no regions, use {country}')
    raise ValueError(f'unknown region "{wanted}" for {country}: use one of {", ".join(regions)}')


class BusinessCalendar:
    def __init__(
        self,
        timezone: str,
        quiet_hours: QuietHours = DEFAULT_QUIET_HOURS,
        country: str | None = None,
        subdivision: str | None = None,
        closed: Iterable[date] = (),
        weekend: Iterable[int] = (5, 6),  # date.weekday() numbers; Saturday and Sunday by default
    ):
        try:
            self._tz = ZoneInfo(timezone)
        except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError; odd paths are others
            raise ValueError(
                f'unknown timezone "{timezone}": use a name such as America/New_York or Europe/London'
            ) from None
        self.quiet_hours = quiet_hours
        if subdivision and not country:
            raise ValueError(f'holiday region "{subdivision}" needs a country, such as GB-{subdivision}')
        # Same checks and messages as a region typed into a config document.
        self._country, self._subdivision = parse_holiday_region(
            f"{country}-{subdivision}" if subdivision else country
        )
        self._closed = frozenset(closed)
        self._weekend = frozenset(weekend)
        self._holidays_by_year: dict[int, HolidayBase] = {}
        self._languages: list[str | None] = []  # the one holiday-name language, once known

    def _language(self) -> str | None:
        """Holiday names otherwise follow the server's locale; prefer English, else the country's own.
        Worked out with the first year's holidays (a calendar made only to check settings never is)."""
        if not self._languages and self._country:
            from holidays import country_holidays

            probe = country_holidays(self._country, subdiv=self._subdivision)
            default = probe.default_language
            english = default if default and default.startswith("en") else "en_US"
            self._languages.append(english if english in probe.supported_languages else default)
        return self._languages[0] if self._languages else None

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    def local_date(self, moment: datetime) -> date:
        return self._local(moment).date()

    def closed_reason(self, d: date) -> str | None:
        """Why `d` is not a business day ("Saturday", "Christmas Day", "closed"), or None if it is one."""
        if d.weekday() in self._weekend:
            return _DAY_NAMES[d.weekday()]
        if self._country:
            if d.year not in self._holidays_by_year:  # building a year is slow: once per year, on demand
                from holidays import country_holidays  # here, so that checking settings never loads it

                self._holidays_by_year[d.year] = country_holidays(
                    self._country, subdiv=self._subdivision, years=d.year, language=self._language()
                )
            name = self._holidays_by_year[d.year].get(d)
            if name:
                return str(name)
        if d in self._closed:
            return "closed"
        return None

    def is_business_time(self, moment: datetime) -> bool:
        local = self._local(moment)
        return self.closed_reason(local.date()) is None and not self.quiet_hours.contains(local.time())

    def next_business_minute(self, moment: datetime) -> datetime:
        """`moment` itself (in the calendar tz) if it is business time, else the earliest later business
        minute."""
        local = self._local(moment)
        if self.is_business_time(local):
            return local
        quiet = self.quiet_hours
        wall = local.replace(tzinfo=None)
        give_up = wall.date() + timedelta(days=MAX_SEARCH_DAYS)
        while wall.date() <= give_up:
            day, clock = wall.date(), wall.time()
            if self.closed_reason(day) is not None:
                wall = datetime.combine(day + timedelta(days=1), time())
            elif quiet.contains(clock):
                # In a window that wraps midnight, the evening part ends tomorrow morning.
                ends_tomorrow = quiet.start > quiet.end and clock >= quiet.start
                wall = datetime.combine(day + timedelta(days=1 if ends_tomorrow else 0), quiet.end)
            else:
                found = self._to_aware(wall, not_before=local)
                if found.replace(tzinfo=None) == wall:
                    return found
                wall = found.replace(tzinfo=None)  # skipped by a DST gap: check the real minute again
        raise ValueError(
            f"no business time within {MAX_SEARCH_DAYS} days after {local.date().isoformat()}: "
            "check the quiet hours, holidays and closed dates"
        )

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            # astimezone() would silently read a naive time as the server's own timezone.
            raise ValueError(f"{moment.isoformat()} has no timezone: pass an aware datetime")
        return moment.astimezone(self._tz)

    def _to_aware(self, wall: datetime, not_before: datetime) -> datetime:
        """A wall-clock time on the calendar's clock as an aware datetime. A time skipped by a spring-forward
        gap becomes the first real minute after the gap; a repeated (fall-back) time takes its first
        occurrence, unless that is earlier than `not_before`."""
        while not self._exists(wall):
            wall = wall.replace(second=0, microsecond=0) + timedelta(minutes=1)
        found = wall.replace(tzinfo=self._tz, fold=0)
        # Compare in UTC: aware datetimes sharing a tzinfo compare by wall time, ignoring fold.
        if found.astimezone(UTC) < not_before.astimezone(UTC):
            found = found.replace(fold=1)
        return found

    def _exists(self, wall: datetime) -> bool:
        there_and_back = wall.replace(tzinfo=self._tz).astimezone(UTC).astimezone(self._tz)
        return there_and_back.replace(tzinfo=None) == wall


@dataclass(frozen=True)
class DeliveryPlan:
    send_at: datetime  # aware, in the calendar tz
    deferred: bool
    reason: str | None  # why it waits ("quiet hours", "Saturday", "Christmas Day", "closed"), or why not


def plan_delivery(now: datetime, calendar: BusinessCalendar, deadline: date | None = None) -> DeliveryPlan:
    """Send now in business time; otherwise wait for the next business minute, unless waiting would
    reach `deadline` (due on or before the day the message would arrive): then send now anyway."""
    send_at = calendar.next_business_minute(now)  # also rejects a naive `now` in plain words
    local = now.astimezone(calendar.tz)
    if calendar.is_business_time(local):
        return DeliveryPlan(local, deferred=False, reason=None)
    why = calendar.closed_reason(local.date()) or "quiet hours"
    if deadline is not None and deadline <= send_at.date():
        if why == "quiet hours":
            when = "during quiet hours"
        else:
            when = "on a closed day" if why == "closed" else f"on {why}"
        reason = f"sent {when} because the deadline {deadline} is on or before the next business day"
        return DeliveryPlan(local, deferred=False, reason=reason)
    return DeliveryPlan(send_at, deferred=True, reason=why)
