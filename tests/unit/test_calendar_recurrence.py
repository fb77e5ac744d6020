"""calendar-sync's decisions on recurring `#expires` events, as Google Calendar sends them with
singleEvents off: one event, its first date in `start`, its rules in `recurrence`."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ew.calendar_plan import NOTHING, PROPOSE, REPROPOSE, Seen, plan_event

TODAY = date(2026, 12, 2)


def yearly(start: dict[str, str], *rules: str) -> dict[str, Any]:
    return {
        "id": "dom1",
        "summary": "acme.example domain",
        "description": "#expires",
        "start": start,
        "recurrence": list(rules) or ["RRULE:FREQ=YEARLY"],
    }


@pytest.mark.parametrize(
    ("event", "day"),
    [
        # a yearly renewal entered years ago: its next date, not its first
        (yearly({"date": "2022-03-01"}), date(2027, 3, 1)),
        (yearly({"dateTime": "2023-01-15T09:00:00+00:00", "timeZone": "Europe/London"}), date(2027, 1, 15)),
        # Google's UNTIL is in UTC for timed events, a date for all-day ones
        (
            yearly({"dateTime": "2023-01-15T09:00:00Z"}, "RRULE:FREQ=YEARLY;UNTIL=20300115T090000Z"),
            date(2027, 1, 15),
        ),
        (yearly({"date": "2024-06-30"}, "RRULE:FREQ=MONTHLY;INTERVAL=6;UNTIL=20301231"), date(2026, 12, 30)),
        # next year's date taken out of the series: the one after
        (
            yearly({"date": "2022-03-01"}, "RRULE:FREQ=YEARLY", "EXDATE;VALUE=DATE:20270301"),
            date(2028, 3, 1),
        ),
        (
            yearly(
                {"dateTime": "2022-03-01T10:00:00+00:00", "timeZone": "Europe/London"},
                "RRULE:FREQ=YEARLY",
                "EXDATE;TZID=Europe/London:20270301T100000",
            ),
            date(2028, 3, 1),
        ),
        (yearly({"date": "2026-12-02"}), TODAY),  # today counts
    ],
)
def test_a_recurring_expires_event_is_proposed_for_its_next_date(event: dict[str, Any], day: date) -> None:
    step = plan_event(event, None, TODAY)
    assert (step.action, step.day) == (PROPOSE, day)


def test_a_series_that_ended_before_today_is_not_proposed() -> None:
    event = yearly({"date": "2020-03-01"}, "RRULE:FREQ=YEARLY;UNTIL=20260301")
    assert plan_event(event, None, TODAY).action == NOTHING


def test_an_edit_of_a_series_already_proposed_for_its_next_date_proposes_nothing() -> None:
    event = yearly({"date": "2022-03-01"})
    seen = Seen(date(2027, 3, 1), "cal1", "1700000000.000100", decided=True)
    assert plan_event({**event, "summary": "acme.example domain (Gandi)"}, seen, TODAY).action == NOTHING
    # ... also once that date has passed, when an edit brings the series back
    assert plan_event(event, seen, date(2027, 3, 20)).action == NOTHING
    # the series moved to another day of the year: proposed again for it
    moved = plan_event(yearly({"date": "2022-03-08"}), seen, TODAY)
    assert (moved.action, moved.day) == (REPROPOSE, date(2027, 3, 8))


def test_a_rule_google_would_not_write_falls_back_to_the_first_date() -> None:
    event = yearly({"date": "2027-05-01"}, "RRULE:FREQ=SOMETIMES")
    step = plan_event(event, None, TODAY)
    assert (step.action, step.day) == (PROPOSE, date(2027, 5, 1))
