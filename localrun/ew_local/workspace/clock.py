"""The workspace's simulated clock (the handlers read it through `ew.runtime.utc_now`)."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

TICK_TIME = clock_time(8, 0)  # daily-tick's schedule
DAY_END = clock_time(23, 0)


class SimClock:
    """The simulated clock: the day's 08:00 tick, then real time passing from there (clicks get
    distinct, increasing times), never past 23:00 of that day."""

    def __init__(self, day: date, tz: ZoneInfo):
        self.tz = tz
        self._start = datetime.combine(day, TICK_TIME, tz)
        self._mark = time.monotonic()

    @property
    def day(self) -> date:
        return self._start.date()

    @property
    def morning(self) -> datetime:
        """This day's tick time."""
        return self._start

    def now(self) -> datetime:
        passed = timedelta(seconds=time.monotonic() - self._mark)
        return min(self._start + passed, datetime.combine(self.day, DAY_END, self.tz))

    def next_day(self) -> datetime:
        self._start = datetime.combine(self.day + timedelta(days=1), TICK_TIME, self.tz)
        self._mark = time.monotonic()
        return self._start
