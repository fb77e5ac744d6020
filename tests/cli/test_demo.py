"""`ew demo`, as a newcomer reads it: drive-sync mirrors the example from the Google stand-in and keeps a
mistyped rules doc out (the admin hears of it once, then that it is fixed), the daily path runs, and a
calendar event tagged #expires becomes a proposal approved into the sheet."""

from __future__ import annotations

import io
from datetime import date

import pytest

from ew_local.cli import build_parser
from ew_local.demo import run_demo


@pytest.fixture(scope="module")
def demo() -> str:
    out = io.StringIO()
    args = build_parser().parse_args(["demo"])
    assert args.date == date(2026, 11, 23)
    assert run_demo(args, out) == 0
    return out.getvalue()


def section(text: str, number: int) -> str:
    start = text.index(f"\n== {number}. ")
    end = text.find("\n== ", start + 1)
    return text[start : end if end != -1 else None]


def test_step_1_is_drive_sync_reading_google_and_keeping_a_bad_rules_doc_out(demo: str) -> None:
    step = section(demo, 1)
    assert "== 1. drive-sync mirrors" in step
    assert (
        "drive-sync read the sheet and both docs through the Google APIs and wrote registry.csv, "
        "problems.json, rules.txt and voice.txt." in step
    )
    assert "kept out: rules.txt; the last good rules stay in force." in step
    # Two runs on the broken doc, one message; one more when it is put right.
    assert step.count("(the admin) ---") == 2
    assert '• line 3: first alert: expected "N days before", found "60 days befor"' in step
    assert step.rstrip().endswith("The rules doc reads cleanly again and is now in force.")


def test_the_daily_path_is_unchanged(demo: str) -> None:
    assert "tick: 20 items, moves: 11 first_alert; 0 rows skipped" in section(demo, 2)
    assert "not taken in" not in section(demo, 2)  # the admin's DMs are not shown again as deliveries
    assert "0 new messages." in section(demo, 3)


def test_step_7_a_calendar_event_becomes_a_row_in_the_sheet(demo: str) -> None:
    step = section(demo, 7)
    assert "calendar-sync read 2 events and proposed 1." in step
    assert "Proposed new item: *Solar panel maintenance contract ends*" in step
    assert "*Expiry date:* 2031-03-31" in step and "[ Approve ] [ Edit ] [ Discard ]" in step
    assert "added to the sheet as ACME-021 (row" in " ".join(step.split())  # the card is wrapped
    assert "item_id: ACME-021, item: Solar panel maintenance contract ends, expiry_date: 2031-03-31" in step
    assert "drive-sync, 15 minutes later, wrote registry.csv" in step


def test_step_9_a_forwarded_contract_becomes_a_row_in_the_sheet(demo: str) -> None:
    step = section(demo, 9)
    assert "waste-collection-agreement.eml: intake-parser proposed it" in step
    assert "The same mail forwarded again: duplicate, no second card." in step
    assert step.count("[ Approve ] [ Edit ] [ Discard ]") == 1
    assert "*Expiry date:* 2027-01-31" in step and "Evidence: “The" in step
    assert "s3://ew-source-pdfs-" in step
    assert (
        "item_id: ACME-022, item: Waste collection agreement, category: contract, expiry_date: 2027-01-31"
        in step
    )
