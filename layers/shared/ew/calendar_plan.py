"""calendar-sync's decisions (DESIGN.md §3, §8), pure: which calendar events are `#expires` events,
what registry row each proposes, and what to do when one is new, moved, cancelled or untagged.

An event is proposed once. An edit proposes it again only when its date changed (the old card, if
still undecided, is withdrawn); a cancelled event, or one whose `#expires` tag was taken off,
withdraws its undecided proposal. Events dated before today are not proposed: a first read of a
calendar with years of history would otherwise flood the intake channel with expired things.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from opskit.dates import human_date

TAG = re.compile(r"#expires\b", re.IGNORECASE)
NOTES_LIMIT = 300
PROPOSE, WITHDRAW, REPROPOSE, NOTHING = "propose", "withdraw", "repropose", "nothing"


@dataclass(frozen=True)
class Seen:
    """What calendar-sync did with an event before (kept in the state table)."""

    day: date  # the event date it proposed
    proposal_id: str
    ts: str  # the card's message ts ("" when the card may not have been posted: post it again)
    decided: bool = False  # someone approved, edited or discarded it (or it was withdrawn)
    channel: str = ""  # where the card is


@dataclass(frozen=True)
class Step:
    action: str  # PROPOSE, WITHDRAW, REPROPOSE or NOTHING
    why: str  # for the log, and the withdrawn card's line
    day: date | None = None


def is_tagged(event: Mapping[str, Any]) -> bool:
    return bool(TAG.search(str(event.get("description") or "")))


def event_date(event: Mapping[str, Any], since: date | None = None) -> date | None:
    """The day the event starts, as its calendar shows it: an all-day event's date, or the local date
    of a timed event's start (its own offset, not UTC). For a recurring event (Google sends a series
    as one event, its first date in `start`), its first date on or after `since`; None once the
    series has ended."""
    start = event.get("start") or {}
    if not isinstance(start, Mapping):
        return None
    try:
        if start.get("date"):
            first = datetime.fromisoformat(str(start["date"]))
        elif start.get("dateTime"):
            first = datetime.fromisoformat(str(start["dateTime"]).replace("Z", "+00:00"))
        else:
            return None
    except ValueError:
        return None
    rules = event.get("recurrence")
    if since is None or not rules or not isinstance(rules, list):
        return first.date()
    return _next_occurrence(first.replace(tzinfo=None), [str(rule) for rule in rules], since)


_TZID = re.compile(r";TZID=[^;:]*")
_MOST_OCCURRENCES = 50_000  # a daily series from 1900: the reading stops, never the function


def _next_occurrence(first: datetime, rules: list[str], since: date) -> date | None:
    """The series' first date on or after `since`, on its own wall clock: Google's RRULE, EXRULE,
    RDATE and EXDATE lines (an UNTIL in UTC, an EXDATE with its TZID) read as local times, which moves
    no date but a time near midnight. A rule that cannot be read leaves the series' first date."""
    from itertools import islice

    from dateutil.rrule import rrulestr

    try:
        local = [_TZID.sub("", rule) for rule in rules]  # ignoretz leaves a TZID parameter's zone on
        series = rrulestr("\n".join(local), dtstart=first, forceset=True, ignoretz=True)
        for occurrence in islice(series, _MOST_OCCURRENCES):
            if occurrence.date() >= since:
                return occurrence.date()
    except (ValueError, TypeError, OverflowError):
        return first.date()
    return None


def plan_event(event: Mapping[str, Any], seen: Seen | None, today: date) -> Step:
    # A series already proposed keeps the date it was proposed for while that is one of its dates,
    # even once past: a later edit (a new title) proposes nothing; a moved series proposes its new date.
    day = event_date(event, min(today, seen.day) if seen is not None else today)
    live = event.get("status") != "cancelled" and is_tagged(event) and day is not None
    if not live:
        if seen is not None and not seen.decided:
            cancelled = event.get("status") == "cancelled"
            why = (
                "the calendar event was cancelled"
                if cancelled
                else "the calendar event has no date from today on"
                if is_tagged(event)  # a series whose last date is past
                else "#expires was taken off the calendar event"
            )
            return Step(WITHDRAW, why)
        return Step(NOTHING, "not an #expires event")
    assert day is not None
    if seen is None:
        if day < today:
            return Step(NOTHING, f"dated {day.isoformat()}, already past")
        return Step(PROPOSE, "a new #expires event", day)
    if seen.day == day:
        if not seen.ts:
            return Step(PROPOSE, "its card may not have been posted", day)
        return Step(NOTHING, "already proposed")
    if day < today:
        if seen.decided:
            return Step(NOTHING, "moved into the past")
        return Step(WITHDRAW, f"the calendar event moved to {human_date(day)}, already past")
    return Step(REPROPOSE, f"the calendar event moved to {human_date(day)}", day)


def proposal_id(calendar_id: str, event_id: str, day: date) -> str:
    """The same event on the same date is always the same proposal: a card posted twice after a crash
    still decides once."""
    return "cal" + hashlib.sha256(f"{calendar_id}\n{event_id}\n{day.isoformat()}".encode()).hexdigest()[:13]


def proposal_fields(event: Mapping[str, Any], day: date) -> dict[str, str]:
    """The registry row an event proposes: the item from the title, the expiry from the date, the owner
    from the organizer (the creator when the organizer is a calendar, not a person), the description
    as notes. Empty fields are left out; the Edit modal asks for them."""
    fields = {
        "item": _clean(TAG.sub("", str(event.get("summary") or ""))),
        "expiry_date": day.isoformat(),
        "owner": _person(event),
        "notes": _notes(str(event.get("description") or "")),
    }
    return {name: value for name, value in fields.items() if value}


def proposal_source(event: Mapping[str, Any], calendar_id: str) -> str:
    """Where the proposal came from, with the event's link as evidence."""
    title = _clean(str(event.get("summary") or "")) or "untitled"
    link = str(event.get("htmlLink") or "")
    return f"the calendar event «{title}» in {calendar_id}" + (f": {link}" if link else "")


def withdrawn_line(why: str, on: date) -> str:
    return f":no_entry_sign: Withdrawn on {human_date(on)}: {why}."


def _person(event: Mapping[str, Any]) -> str:
    for role in ("organizer", "creator"):
        who = event.get(role) or {}
        email = str(who.get("email") or "") if isinstance(who, Mapping) else ""
        # A shared calendar organizes its own events: its ID is no one's address.
        if email and not email.endswith("calendar.google.com"):
            return email
    return ""


def _notes(description: str) -> str:
    text = re.sub(r"<br\s*/?>|</p>|</div>|</li>", "\n", description, flags=re.IGNORECASE)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))  # the Calendar web UI stores descriptions as HTML
    text = _clean(TAG.sub("", text))
    return text if len(text) <= NOTES_LIMIT else text[: NOTES_LIMIT - 1] + "…"


def _clean(text: str) -> str:
    return " ".join(text.split())


def unreadable_message(calendar_id: str, reason: str) -> tuple[str, str]:
    """(subject, text) for the admin when a calendar cannot be read (not shared, wrong ID)."""
    return (
        f"Expiry Watcher cannot read the calendar {calendar_id}",
        f"I cannot read the calendar {calendar_id}, so its #expires events are not proposed: {reason}.",
    )


def readable_message(calendar_id: str) -> tuple[str, str]:
    return (
        f"Expiry Watcher can read the calendar {calendar_id} again",
        f"I can read the calendar {calendar_id} again: its #expires events are proposed as before.",
    )
