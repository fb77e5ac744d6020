"""calendar-sync through the real handler and the Google stand-in, on what a real calendar holds: a
yearly `#expires` series entered years ago, a calendar read in several pages (and again in full after a
410), and an event whose date moves after its proposal was approved."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alerts import approve, card_words

from ew import runtime
from ew_local.cloud import LocalCloud

CAL, INTAKE = "team@acme.example", "C04INTAKE1"
SHEET = "item_id,item,category,expiry_date,owner,notes\nACME-019,Cyber insurance,insurance,2027-03-01,U04FIN0001,\n"
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
DOMAIN = {
    "id": "dom1",
    "summary": "acme.example domain",
    "description": "Renew at Gandi #expires",
    "start": {"date": "2022-03-01"},
    "end": {"date": "2022-03-02"},
    "recurrence": ["RRULE:FREQ=YEARLY"],
    "organizer": {"email": "dana@acme.example"},
}


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCloud]:
    settings = {"timezone": "Europe/London", "calendar_ids": CAL, "intake_channel": INTAKE}
    with LocalCloud(settings) as local:
        local.publish(SHEET.encode())
        monkeypatch.setattr(runtime, "utc_now", lambda: NOW)
        yield local


def cards(cloud: LocalCloud) -> list[dict[str, Any]]:
    return cloud.slack.in_channel(INTAKE)


def sheet(cloud: LocalCloud) -> list[dict[str, str]]:
    header, *rows = cloud.sheet_rows()
    return [dict(zip(header, row, strict=False)) for row in rows]


def test_a_yearly_series_entered_years_ago_is_proposed_for_its_next_date(cloud: LocalCloud) -> None:
    cloud.google.put_event(CAL, DOMAIN)
    assert len(cloud.calendar_sync()["proposed"]) == 1
    [card] = cards(cloud)
    assert "*Expiry date:* 2027-03-01" in card_words(card)
    approve(cloud, card, "U04BOSS001")
    assert [row["expiry_date"] for row in sheet(cloud)][-1] == "2027-03-01"
    # a later edit of the series (its title) proposes nothing more
    cloud.google.put_event(CAL, {**DOMAIN, "summary": "acme.example domain (Gandi)"})
    assert cloud.calendar_sync()["proposed"] == []


def test_a_calendar_read_in_pages_proposes_once_and_a_full_read_after_a_410_withdraws_nothing(
    cloud: LocalCloud,
) -> None:
    for n in range(260):  # more than one page of 250
        cloud.google.put_event(CAL, {"id": f"m{n}", "summary": "Stand-up", "start": {"date": "2027-01-04"}})
    cloud.google.put_event(CAL, {**DOMAIN, "id": "last", "recurrence": [], "start": {"date": "2027-05-01"}})
    assert len(cloud.calendar_sync()["proposed"]) == 1
    cloud.google.expire_sync_tokens(CAL)
    report = cloud.calendar_sync()
    assert report["full_reads"] == [CAL] and report["proposed"] == report["withdrawn"] == []
    [card] = cards(cloud)
    assert any(b["type"] == "actions" for b in card["blocks"])


def test_an_event_moved_after_its_proposal_was_approved_says_so_on_the_new_card(cloud: LocalCloud) -> None:
    lease = {
        **DOMAIN,
        "id": "lease1",
        "summary": "Office lease ends",
        "recurrence": [],
        "start": {"date": "2027-03-31"},
    }
    cloud.google.put_event(CAL, lease)
    cloud.calendar_sync()
    approve(cloud, cards(cloud)[0], "U04BOSS001")
    cloud.google.put_event(CAL, {**lease, "start": {"date": "2027-04-30"}})
    assert len(cloud.calendar_sync()["proposed"]) == 1
    approved, moved = cards(cloud)
    assert approved["text"].startswith("Approved by <@U04BOSS001>")
    # The sheet already has the row for 31 Mar (and alerts for it): the new card must not look new.
    assert "*Expiry date:* 2027-04-30" in card_words(moved)
    assert (
        "this event is already in the sheet with expiry 31 Mar 2027 (approved before it moved): Approve adds "
        "a second row; to move that one, change its expiry_date in the sheet and Discard this"
    ) in card_words(moved)
