"""The pure side of clicks and proposals: modal validation, the answer line, the next item_id."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from ew import click_rules, proposals
from ew.chain import PingRef

TODAY = date(2026, 11, 24)


@pytest.mark.parametrize(
    ("action", "text", "error"),
    [
        ("renew", None, "Pick a date."),
        ("renew", "2026-11-24", "The new expiry date must be after today (24 Nov 2026)."),
        ("snooze", "2026-01-01", "The snooze date must be after today (24 Nov 2026)."),
        ("snooze", "soon", "soon is not a date."),
        ("renew", "x" * 5000, "x" * 40 + "… is not a date."),
    ],
)
def test_modal_dates_are_checked_in_plain_words(action: str, text: str | None, error: str) -> None:
    assert click_rules.check_date(action, text, TODAY) == (None, error)


def test_a_future_date_is_accepted() -> None:
    assert click_rules.check_date("renew", "2027-12-15", TODAY) == (date(2027, 12, 15), None)


def test_answer_lines_say_who_did_what() -> None:
    assert click_rules.answer_line("renew", "U04FIN0001", TODAY, date(2027, 12, 15)) == (
        ":white_check_mark: Renewed by <@U04FIN0001> on 24 Nov 2026: new expiry 15 Dec 2027."
    )
    assert click_rules.answer_line("snooze", "li@acme.example", TODAY, date(2026, 12, 1)) == (
        ":zzz: Snoozed by li@acme.example on 24 Nov 2026 until 1 Dec 2026."
    )
    assert click_rules.answer_line("ack_only", "U04FIN0001", TODAY, None) == (
        ":ok_hand: Acknowledged by <@U04FIN0001> on 24 Nov 2026."
    )


def test_the_answered_card_loses_its_buttons_only() -> None:
    blocks = [{"type": "section"}, {"type": "context"}, {"type": "actions", "elements": []}]
    assert [b["type"] for b in click_rules.answered_blocks(blocks, "done")] == [
        "section",
        "context",
        "context",
    ]


def test_modal_context_round_trips_and_drops_blocks_too_big_for_slack() -> None:
    ref = PingRef("ACME-002", date(2026, 12, 15), 3)
    small = click_rules.ModalContext(ref, "D1", "1.2", "Lease", ({"type": "section", "text": "x"},))
    assert click_rules.ModalContext.loads(small.dumps()) == small
    huge = click_rules.ModalContext(ref, "D1", "1.2", "Lease", ({"type": "section", "text": "x" * 4000},))
    assert len(huge.dumps()) <= 3000 and click_rules.ModalContext.loads(huge.dumps()).blocks == ()


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (["ACME-001", "ACME-019", "ACME-020"], "ACME-021"),
        (["INS-7", "INS-12", "X"], "INS-13"),
        (["0099", "0100"], "0101"),
    ],
)
def test_the_next_item_id_follows_the_sheet_numbering(existing: list[str], expected: str) -> None:
    assert proposals.next_item_id(existing) == expected


def test_a_sheet_without_numbering_gets_a_readable_new_id() -> None:
    assert proposals.next_item_id(["lease", "van"]).startswith("EW-")


def test_proposed_fields_are_checked_like_a_sheet_row() -> None:
    assert proposals.check_fields({"item": "Lease", "expiry_date": "2027-01-31", "owner": "U04OPS0001"}) == {}
    assert proposals.check_fields({"item": "Lease", "expiry_date": "31/01/2027", "owner": ""}) == {
        "expiry_date": '"31/01/2027" is ambiguous: set the date order (day-month-year or month-day-year) '
        "or write it as 2027-01-31",
        "owner": "the owner is empty; write a Slack user ID (like U012ABCDEF) or an email address",
    }


def test_decision_lines() -> None:
    on = datetime(2026, 11, 24, 10, 0)
    assert (
        proposals.decision_line("proposal_discard", "U04BOSS001", on)
        == "Discarded by <@U04BOSS001> on 24 Nov 2026."
    )
