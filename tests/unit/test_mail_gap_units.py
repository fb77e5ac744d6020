"""Gaps found by an adversarial pass on the mail lane (the intake-parser cases are in
tests/integration/test_mail_gaps.py; both cannot share a name: no __init__.py)."""

from __future__ import annotations

from datetime import date

from ew.intake import already_in_registry
from ew.items import Item
from opskit.date_mentions import find_dates


def test_year_first_dates_with_slashes_or_dots_are_read_without_a_date_order() -> None:
    text = "Valid until 2027/02/28; renewed 2026.3.1; due 2027-04-05."
    assert [(m.text, m.date) for m in find_dates(text)] == [
        ("2027/02/28", date(2027, 2, 28)),
        ("2026.3.1", date(2026, 3, 1)),
        ("2027-04-05", date(2027, 4, 5)),
    ]
    assert not find_dates(text)[0].numeric  # year first is always year-month-day


def test_year_first_lookalikes_are_not_dates() -> None:
    # compact 20270228 (any eight-digit reference), mixed separators, a fourth part (a version), no such day
    assert find_dates("Policy 20270228, ref 2027/02-28, build 2027.02.28.4, on 2027/02/30") == []


def _item(item_id: str, name: str, expiry: date, status: str = "active") -> Item:
    return Item(item_id, name, expiry, "U04OPS0001", row=int(item_id[-1]) + 1, status=status)


def test_the_registry_warning_picks_the_row_with_the_same_expiry_and_skips_retired_rows() -> None:
    items = [
        _item("ACME-1", "Van lease", date(2026, 1, 1)),
        _item("ACME-2", " van  LEASE", date(2027, 1, 1)),
        _item("ACME-3", "Office lease", date(2027, 1, 1), status="retired"),
    ]
    (warning,) = already_in_registry({"item": "Van Lease", "expiry_date": "2027-01-01"}, items)
    assert warning.startswith("this item is already in the sheet as ACME-2 (row 3, expiry 1 Jan 2027)")
    assert already_in_registry({"item": "Office lease", "expiry_date": "2027-01-01"}, items) == ()
    assert already_in_registry({"item": "", "expiry_date": "2027-01-01"}, items) == ()
