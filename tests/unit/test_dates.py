from datetime import date

import pytest

from opskit.dates import DATE_ORDERS, check_date_order, parse_date


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01",
        "2026-3-1",
        "1 Mar 2026",
        "01 mar 2026",
        "1 March 2026",
        "1 MARCH 2026",
        "1st March, 2026",
        "1-Mar-2026",
        "March 1, 2026",
        "march 1 2026",
        "Mar 1 2026",
        "Mar. 1, 2026",
        "March 1st, 2026",
        "  1 Mar 2026\t",
        "\n2026-03-01 ",
    ],
)
def test_unambiguous_forms_need_no_date_order(text):
    assert parse_date(text) == date(2026, 3, 1)


@pytest.mark.parametrize("text", ["Sept 30 2026", "30 Sep 2026", "30 september 2026"])
def test_september_spellings(text):
    assert parse_date(text) == date(2026, 9, 30)


@pytest.mark.parametrize("text", ["01/03/2026", "1/3/2026", "01.03.2026", "01-03-2026", " 1/3/2026 "])
def test_numeric_day_month_year(text):
    assert parse_date(text, "dmy") == date(2026, 3, 1)


@pytest.mark.parametrize("text", ["01/03/2026", "1/3/2026", "01.03.2026", "01-03-2026"])
def test_numeric_month_day_year(text):
    assert parse_date(text, "mdy") == date(2026, 1, 3)


def test_iso_and_named_dates_ignore_the_date_order():
    assert parse_date("2026-03-01", "mdy") == date(2026, 3, 1)
    assert parse_date("1 Mar 2026", "mdy") == date(2026, 3, 1)


def test_leap_day():
    assert parse_date("29 Feb 2028") == date(2028, 2, 29)
    assert parse_date("02/29/2028", "mdy") == date(2028, 2, 29)


def _message(text, order=None):
    with pytest.raises(ValueError) as info:
        parse_date(text, order)
    return str(info.value)


def test_numeric_without_order_is_ambiguous_and_offers_both_readings():
    assert _message("01/03/2026") == (
        '"01/03/2026" is ambiguous: set the date order (day-month-year or month-day-year) '
        "or write it as 2026-03-01 or 2026-01-03"
    )


def test_numeric_without_order_with_one_possible_reading_still_needs_the_order():
    # one reading is impossible, so the suggestion is the only real date
    assert _message("31/03/2026") == (
        '"31/03/2026" is ambiguous: set the date order (day-month-year or month-day-year) '
        "or write it as 2026-03-31"
    )


def test_numeric_without_order_and_same_day_both_ways():
    assert _message("05/05/2026").endswith("or write it as 2026-05-05")


def test_numeric_impossible_both_ways():
    assert _message("31/31/2026") == '"31/31/2026" is not a real date'


def test_not_a_real_date():
    assert _message("31/02/2026", "dmy") == '"31/02/2026" is not a real date when read as day-month-year'
    assert _message("13/01/2026", "mdy") == '"13/01/2026" is not a real date when read as month-day-year'
    assert _message("2026-02-30") == '"2026-02-30" is not a real date'
    assert _message("29 Feb 2026") == '"29 Feb 2026" is not a real date'
    assert _message("Apr 31, 2026") == '"Apr 31, 2026" is not a real date'
    assert _message("2026-13-01") == '"2026-13-01" is not a real date'


def test_not_a_date():
    assert _message("next week") == '"next week" is not a date: write it like 2026-03-01 or 1 Mar 2026'
    assert (
        _message("2026/03/01", "dmy") == '"2026/03/01" is not a date: write it like 2026-03-01 or 1 Mar 2026'
    )
    assert (
        _message("01/03-2026", "dmy") == '"01/03-2026" is not a date: write it like 2026-03-01 or 1 Mar 2026'
    )


def test_empty_date():
    assert _message("   ") == "the date is empty: write it like 2026-03-01 or 1 Mar 2026"


def test_unknown_month_name():
    assert _message("1 Marhc 2026") == (
        '"1 Marhc 2026" is not a date: "Marhc" is not a month name; write it like 2026-03-01 or 1 Mar 2026'
    )


@pytest.mark.parametrize("text", ["1 Mar 26", "Mar 1, 26", "01/03/26"])
def test_two_digit_years_are_refused(text):
    assert _message(text, "dmy") == f'"{text}" has a two-digit year: write the year in full, e.g. 2026'


def test_odd_length_year_is_not_a_date():
    assert _message("1 Mar 202") == '"1 Mar 202" is not a date: write it like 2026-03-01 or 1 Mar 2026'


@pytest.mark.parametrize("order", ["DMY", "ymd", ""])
def test_unknown_date_order_is_refused(order):
    with pytest.raises(ValueError, match="the date order must be"):
        parse_date("2026-03-01", order)
    with pytest.raises(ValueError) as info:
        check_date_order(order)
    assert str(info.value) == f'the date order must be "dmy" or "mdy" (or not set), not "{order}"'


def test_date_orders_constant():
    assert DATE_ORDERS == ("dmy", "mdy")
    for order in (None, *DATE_ORDERS):
        check_date_order(order)
