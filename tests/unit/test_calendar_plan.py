"""calendar-sync's pure decisions: which events propose, what they propose, and what an edit does."""

from __future__ import annotations

from datetime import date

import pytest

from ew.calendar_plan import (
    NOTHING,
    PROPOSE,
    REPROPOSE,
    WITHDRAW,
    Seen,
    event_date,
    plan_event,
    proposal_fields,
    proposal_id,
)

TODAY = date(2026, 12, 2)
EVENT = {
    "id": "e1",
    "status": "confirmed",
    "summary": "Lease",
    "description": "#expires",
    "start": {"date": "2027-03-31"},
}
SEEN = Seen(date(2027, 3, 31), "cal123", "1700000000.000001")


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ({"date": "2027-03-31"}, date(2027, 3, 31)),
        ({"dateTime": "2027-03-31T00:30:00+01:00"}, date(2027, 3, 31)),  # its own clock, not UTC's 30 Mar
        ({"dateTime": "2027-03-31T23:30:00Z"}, date(2027, 3, 31)),
        ({}, None),
        ({"date": "31/03/2027"}, None),
    ],
)
def test_event_date(start: dict[str, str], expected: date | None) -> None:
    assert event_date({"start": start}) == expected


@pytest.mark.parametrize(
    ("event", "seen", "action", "why"),
    [
        (EVENT, None, PROPOSE, "a new #expires event"),
        ({**EVENT, "description": "#EXPIRES"}, None, PROPOSE, "a new #expires event"),
        ({**EVENT, "description": "#expiresoon"}, None, NOTHING, "not an #expires event"),
        ({**EVENT, "summary": "Lease #expires", "description": ""}, None, NOTHING, "not an #expires event"),
        ({**EVENT, "start": {"date": "2026-12-01"}}, None, NOTHING, "dated 2026-12-01, already past"),
        (EVENT, SEEN, NOTHING, "already proposed"),
        ({**EVENT, "summary": "Lease (renamed)"}, SEEN, NOTHING, "already proposed"),
        (EVENT, Seen(SEEN.day, "cal123", ""), PROPOSE, "its card may not have been posted"),
        ({**EVENT, "start": {"date": "2027-04-30"}}, SEEN, REPROPOSE, "the calendar event moved to 30 Apr 2027"),
        ({"id": "e1", "status": "cancelled"}, SEEN, WITHDRAW, "the calendar event was cancelled"),
        ({**EVENT, "description": "gone"}, SEEN, WITHDRAW, "#expires was taken off the calendar event"),
        ({"id": "e1", "status": "cancelled"}, Seen(SEEN.day, "cal123", "1.1", decided=True), NOTHING,
         "not an #expires event"),
        ({"id": "e1", "status": "cancelled"}, None, NOTHING, "not an #expires event"),
    ],
)  # fmt: skip
def test_plan_event(event: dict[str, object], seen: Seen | None, action: str, why: str) -> None:
    step = plan_event(event, seen, TODAY)
    assert (step.action, step.why) == (action, why)


def test_the_proposed_row_reads_the_title_the_date_the_organizer_and_the_html_description() -> None:
    event = {
        **EVENT,
        "summary": "  #expires Office   lease ",
        "description": "<b>Renew</b> with Harbour &amp; Co<br/>#expires",
        "organizer": {"email": "c_abc@group.calendar.google.com"},
        "creator": {"email": "dana@acme.example"},
    }
    assert proposal_fields(event, date(2027, 3, 31)) == {
        "item": "Office lease", "expiry_date": "2027-03-31", "owner": "dana@acme.example",
        "notes": "Renew with Harbour & Co",
    }  # fmt: skip
    assert proposal_fields({"summary": "#expires"}, date(2027, 3, 31)) == {"expiry_date": "2027-03-31"}


def test_the_same_event_on_the_same_date_is_the_same_proposal() -> None:
    one = proposal_id("team@acme.example", "e1", date(2027, 3, 31))
    assert one == proposal_id("team@acme.example", "e1", date(2027, 3, 31))
    assert one != proposal_id("team@acme.example", "e1", date(2027, 4, 30))
    assert one != proposal_id("other@acme.example", "e1", date(2027, 3, 31))
