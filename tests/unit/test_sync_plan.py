"""drive-sync's pure decisions: what keeps a document out, which items the sheet renewed, and what the
admin reads."""

from __future__ import annotations

from datetime import date

from ew.chain import Ping
from ew.items import load_registry
from ew.sync_plan import (
    blocked_message,
    check_registry,
    check_rules,
    check_voice,
    closed_pings,
    problem_lines,
    renewals,
    rows_message,
)

HEADER = ["item_id", "item", "expiry_date", "owner"]


def test_a_header_without_a_required_column_blocks_but_a_bad_row_does_not() -> None:
    blocked = check_registry(["item_id", "item", "owner"], [["A-1", "Lease", "U04LEASE01"]], None)
    assert problem_lines(blocked.blocking) == [
        "header: the header has no expiry_date column; the sheet needs item_id, item, expiry_date and owner"
    ]
    checked = check_registry(
        HEADER, [["A-1", "Lease", "46082", "U04LEASE01"], [], ["A-2", "Van", "soon", "U04FIN0001"]], None
    )
    assert checked.blocking == ()
    assert problem_lines(checked.row_problems) == [
        'row 4, column expiry_date: "soon" is not a date: write it like 2026-03-01 or 1 Mar 2026'
    ]  # the blank row 3 keeps row numbers as the sheet shows them
    assert checked.body.startswith(b"item_id,item,expiry_date,owner\nA-1,Lease,2026-03-01,U04LEASE01\n\n")


def test_docs_block_with_their_line_numbers() -> None:
    assert problem_lines(check_rules("[default]\nreminder: often\n", None).blocking) == [
        'line 2: reminder: expected "every N days", found "often"'
    ]
    assert check_voice("[first_alert]\nHi {item}\n").blocking == ()


def test_renewals_are_items_whose_expiry_moved_later() -> None:
    before = load_registry(
        b"item_id,item,expiry_date,owner\nA,a,2027-01-01,U04AAAAAA1\nB,b,2027-01-01,U04AAAAAA1\nC,c,2027-01-01,U04AAAAAA1\n"
    )
    after = load_registry(
        b"item_id,item,expiry_date,owner\nA,a,2028-01-01,U04AAAAAA1\nB,b,2026-12-01,U04AAAAAA1\nD,d,2029-01-01,U04AAAAAA1\n"
    )
    [found] = renewals(before, after)
    assert (found.old.item_id, found.old.expiry_date, found.new_expiry) == (
        "A",
        date(2027, 1, 1),
        date(2028, 1, 1),
    )


def test_a_sheet_renewal_closes_the_pings_of_earlier_cycles_only() -> None:
    [item] = load_registry(b"item_id,item,expiry_date,owner\nA,a,2028-01-01,U04AAAAAA1\n").items
    old = Ping("A", date(2027, 1, 1), 0, "first_alert", date(2026, 11, 23), "U04AAAAAA1")
    new = Ping("A", date(2028, 1, 1), 0, "first_alert", date(2027, 11, 2), "U04AAAAAA1")
    later = Ping("A", date(2029, 1, 1), 0, "first_alert", date(2028, 11, 2), "U04AAAAAA1")
    assert closed_pings(item, [old, new, later]) == [old]


def test_long_problem_lists_are_cut_and_counted() -> None:
    lines = [f"line {n}: bad" for n in range(1, 21)]
    subject, text = blocked_message("rules", lines)
    assert subject == "Expiry Watcher: the rules doc has a problem and was not taken in"
    assert text.startswith("The rules doc was not taken in: 20 problems to fix.\n• line 1: bad\n")
    assert "• line 15: bad\n… and 5 more\n" in text and "line 16" not in text
    assert rows_message(["row 5, column owner: x"], 3)[1] == (
        "1 new problem in the registry sheet (3 rows skipped in all until fixed; the rest of the sheet "
        "still runs):\n• row 5, column owner: x"
    )
    assert rows_message(["header: column F has values", "header: columns B and C"], 0) == (
        "Expiry Watcher: the registry sheet needs fixing",
        "2 new problems in the registry sheet (no row is skipped; the sheet is in force):\n"
        "• header: column F has values\n• header: columns B and C",
    )
