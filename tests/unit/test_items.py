import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from ew.items import OPTIONAL, REQUIRED, Item, Registry, add_term, item_to_row, load_registry, parse_term
from opskit.problems import DocumentError
from opskit.table import write_csv

HEADER = "item_id,item,expiry_date,owner"


def _load(*lines, date_order=None):
    return load_registry("\n".join(lines).encode(), "registry.csv", date_order)


def _problems(registry: Registry):
    return [str(p) for p in registry.problems]


def test_schema_columns():
    assert REQUIRED == ("item_id", "item", "expiry_date", "owner")
    assert OPTIONAL == (
        "category",
        "owner_email",
        "notice_date",
        "first_alert_days",
        "renewal_term",
        "notes",
        "renewal_link",
        "status",
        "last_renewed",
    )


def test_minimal_row_loads_with_defaults():
    registry = _load(HEADER, "L1,Office lease,2026-03-01,U012ABCDEF")
    assert registry.problems == []
    assert registry.columns == ["item_id", "item", "expiry_date", "owner"]
    assert registry.items == [Item("L1", "Office lease", date(2026, 3, 1), "U012ABCDEF", row=2)]
    item = registry.items[0]
    assert item.status == "active"
    assert item.anchor == date(2026, 3, 1)
    assert item.owner_is_slack


def test_full_row_with_extra_columns():
    registry = _load(
        "Item ID,Item,Expiry Date,Owner,Category,Owner Email,Notice Date,First Alert Days,Renewal Term,"
        "Notes,Renewal Link,Status,Last Renewed,Vendor",
        'P1,Fire insurance,1 Mar 2027,ops@example.com,Insurance,ana@example.com,"March 1, 2027",90,1 year,'
        "call Jo,https://broker.example.com/p1,ACTIVE,2026-03-01,Acme",
    )
    assert registry.problems == []
    assert registry.columns[-1] == "vendor"
    (item,) = registry.items
    assert item == Item(
        item_id="P1",
        item="Fire insurance",
        expiry_date=date(2027, 3, 1),
        owner="ops@example.com",
        row=2,
        category="Insurance",
        owner_email="ana@example.com",
        notice_date=date(2027, 3, 1),
        first_alert_days=90,
        renewal_term="1 year",
        notes="call Jo",
        renewal_link="https://broker.example.com/p1",
        status="active",
        last_renewed=date(2026, 3, 1),
        extra={"vendor": "Acme"},
    )
    assert not item.owner_is_slack


def test_quoted_comma_date_in_csv():
    registry = _load(HEADER, 'L1,Lease,"March 1, 2026",U012ABCDEF')
    assert registry.items[0].expiry_date == date(2026, 3, 1)


def test_anchor_is_the_notice_date_when_set():
    registry = _load(HEADER + ",notice_date", "L1,Lease,2026-12-31,U012ABCDEF,2026-09-30")
    assert registry.items[0].anchor == date(2026, 9, 30)


@pytest.mark.parametrize(
    ("owner", "slack"),
    [("U012ABCDEF", True), ("W0123456", True), ("U12345", False), ("u012abcdef", False), ("a@b.co", False)],
)
def test_owner_is_slack(owner, slack):
    assert Item("A", "x", date(2026, 1, 1), owner, 2).owner_is_slack is slack


def test_items_are_hashable_and_extras_count_for_equality():
    one = Item("A", "x", date(2026, 1, 1), "U0123456", 2, extra={"vendor": "Acme"})
    same = Item("A", "x", date(2026, 1, 1), "U0123456", 2, extra={"vendor": "Acme"})
    other = Item("A", "x", date(2026, 1, 1), "U0123456", 2, extra={"vendor": "Zed"})
    assert one == same and hash(one) == hash(same)
    assert one != other
    assert len({one, same}) == 1


def test_missing_required_column_makes_the_sheet_unusable():
    with pytest.raises(DocumentError) as info:
        _load("item_id,item,Owner,expiry", "L1,Lease,U012ABCDEF,2026-03-01")
    assert [str(p) for p in info.value.problems] == [
        "registry.csv: header: the header has no expiry_date column; "
        "the sheet needs item_id, item, expiry_date and owner"
    ]


def test_every_missing_required_column_is_named():
    with pytest.raises(DocumentError) as info:
        _load("item,notes", "Lease,x")
    assert [p.message.split(";")[0] for p in info.value.problems] == [
        "the header has no item_id column",
        "the header has no expiry_date column",
        "the header has no owner column",
    ]


def test_a_doubled_or_unnamed_column_the_watcher_does_not_read_is_reported_and_the_sheet_runs():
    registry = _load(
        "item_id,item,expiry_date,owner,Supplier,,supplier",
        "L1,Lease,2026-03-01,U012ABCDEF,Harbour Estates,call Tom,Harbour Ltd",
        "L2,Van,2026-05-01,U012ABCDEF,,,",
    )
    assert [i.item_id for i in registry.items] == ["L1", "L2"]
    assert registry.items[0].extra == {"supplier": "Harbour Estates"}  # the first Supplier column
    assert item_to_row(registry.items[0])["supplier"] == "Harbour Estates"
    assert _problems(registry) == [
        'registry.csv: header: columns E ("Supplier") and G ("supplier") have the same name; column E is '
        "read and column G is left out; each column needs its own name",
        "registry.csv: header: column F has values (the first in row 2) but no name in row 1, so they "
        "are left out; give it a name or clear it",
    ]


def test_skipped_rows_count_rows_not_problems():
    registry = _load(
        "item_id,item,expiry_date,owner,Supplier,supplier",
        "L1,Lease,someday,nobody,,",  # two bad cells: one row
        "L2,Van,2026-05-01,U012ABCDEF,,",
    )
    assert [i.item_id for i in registry.items] == ["L2"]
    assert (len(registry.problems), registry.skipped_rows) == (3, 1)  # the doubled column skips none


def test_a_second_notes_column_is_reported_and_the_first_is_shown():
    registry = _load(
        "item_id,item,expiry_date,owner,Notes,notes", "L1,Lease,2026-03-01,U012ABCDEF,Call Tom,old"
    )
    assert [i.item_id for i in registry.items] == ["L1"]
    assert registry.items[0].notes == "Call Tom"
    assert _problems(registry) == [
        'registry.csv: header: columns E ("Notes") and F ("notes") have the same name; column E is '
        "read and column F is left out; each column needs its own name",
    ]


@pytest.mark.parametrize("doubled", ["Owner", "Renewal Term", "Last Renewed"])
def test_a_column_the_watcher_reads_twice_makes_the_sheet_unusable(doubled):
    header = "item_id,item,expiry_date,owner,renewal_term,last_renewed," + doubled
    with pytest.raises(DocumentError) as info:
        _load(header, "L1,Lease,2026-03-01,U012ABCDEF,,,")
    [problem] = info.value.problems
    assert problem.where == "header"
    assert problem.message.endswith(f'("{doubled}") have the same name; each column needs its own name')


def test_table_level_problems_come_through():
    with pytest.raises(DocumentError) as info:
        load_registry(b"", "registry.csv")
    assert (
        str(info.value) == "registry.csv: file: the file is empty; the first row should hold the column names"
    )


def test_bad_rows_are_skipped_and_reported_and_good_rows_still_load():
    registry = _load(
        HEADER,
        "L1,Lease,2026-03-01,U012ABCDEF",
        "L2,Van,31/02/2026,U012ABCDEF",
        ",,,",
        "L3,,next week,bob",
        "L4,Domain,Mar 1 2026,it@example.com",
        date_order="dmy",
    )
    assert [(i.item_id, i.row) for i in registry.items] == [("L1", 2), ("L4", 6)]
    assert _problems(registry) == [
        'registry.csv: row 3, column expiry_date: "31/02/2026" is not a real date when read as '
        "day-month-year",
        "registry.csv: row 5, column item: the item is empty; say what expires, e.g. Office lease",
        'registry.csv: row 5, column expiry_date: "next week" is not a date: write it like '
        "2026-03-01 or 1 Mar 2026",
        'registry.csv: row 5, column owner: "bob" is not a Slack user ID (like U012ABCDEF) or an '
        "email address",
    ]


def test_empty_required_cells():
    registry = _load(HEADER, ",,,", " , ,x, ", ",Lease,,")
    assert _problems(registry) == [
        "registry.csv: row 3, column item_id: the item_id is empty; every row needs its own id",
        "registry.csv: row 3, column item: the item is empty; say what expires, e.g. Office lease",
        'registry.csv: row 3, column expiry_date: "x" is not a date: write it like 2026-03-01 or 1 Mar 2026',
        "registry.csv: row 3, column owner: the owner is empty; write a Slack user ID (like U012ABCDEF) "
        "or an email address",
        "registry.csv: row 4, column item_id: the item_id is empty; every row needs its own id",
        "registry.csv: row 4, column expiry_date: the expiry_date is empty; write it like 2026-03-01 "
        "or 1 Mar 2026",
        "registry.csv: row 4, column owner: the owner is empty; write a Slack user ID (like U012ABCDEF) "
        "or an email address",
    ]
    assert registry.items == []


def test_numeric_dates_follow_the_date_order():
    assert _load(HEADER, "L1,Lease,01/03/2026,U012ABCDEF", date_order="dmy").items[0].expiry_date == date(
        2026, 3, 1
    )
    assert _load(HEADER, "L1,Lease,01/03/2026,U012ABCDEF", date_order="mdy").items[0].expiry_date == date(
        2026, 1, 3
    )


def test_numeric_date_without_order_is_reported():
    registry = _load(HEADER, "L1,Lease,01/03/2026,U012ABCDEF")
    assert _problems(registry) == [
        'registry.csv: row 2, column expiry_date: "01/03/2026" is ambiguous: set the date order '
        "(day-month-year or month-day-year) or write it as 2026-03-01 or 2026-01-03"
    ]


def test_bad_date_order_is_a_configuration_error_not_a_row_problem():
    with pytest.raises(ValueError, match="the date order must be"):
        _load(HEADER, "L1,Lease,2026-03-01,U012ABCDEF", date_order="ymd")


def test_optional_columns_are_validated():
    header = (
        HEADER + ",owner_email,notice_date,first_alert_days,renewal_term,renewal_link,status,last_renewed"
    )
    registry = _load(
        header,
        "A,Lease,2026-03-01,U012ABCDEF,bob@,2026-04-01,ninety,fortnight,www.example.com,paused,someday",
        "B,Lease,2026-03-01,U012ABCDEF,,,3651,0 days,,,",
        "C,Lease,2026-03-01,U012ABCDEF,,,-5,,ftp://example.com,,",
    )
    assert registry.items == []
    assert _problems(registry) == [
        'registry.csv: row 2, column owner_email: "bob@" is not an email address',
        "registry.csv: row 2, column notice_date: the notice_date 2026-04-01 is after the "
        "expiry_date 2026-03-01; "
        "the notice date is the last day to cancel and must be on or before the expiry",
        'registry.csv: row 2, column first_alert_days: "ninety" is not a whole number of days from 0 to 3650',
        'registry.csv: row 2, column renewal_term: "fortnight" is not a renewal term: '
        "write it like 1 year, 6 months, 90 days or 2 weeks",
        'registry.csv: row 2, column renewal_link: "www.example.com" is not a web link; '
        "it should start with https://",
        'registry.csv: row 2, column status: "paused" is not a status; write active or retired '
        "(blank means active)",
        'registry.csv: row 2, column last_renewed: "someday" is not a date: write it like 2026-03-01 '
        "or 1 Mar 2026",
        'registry.csv: row 3, column first_alert_days: "3651" is not a whole number of days from 0 to 3650',
        'registry.csv: row 3, column renewal_term: "0 days" is not a usable renewal term: use 1 to '
        "36500 days",
        'registry.csv: row 4, column first_alert_days: "-5" is not a whole number of days from 0 to 3650',
        'registry.csv: row 4, column renewal_link: "ftp://example.com" is not a web link; '
        "it should start with https://",
    ]


def test_optional_values_at_their_limits_are_accepted():
    header = HEADER + ",first_alert_days,notice_date,renewal_link,owner_email"
    registry = _load(
        header,
        "A,Lease,2026-03-01,U012ABCDEF,0,2026-03-01,HTTP://example.com,a.b@example.co.uk",
        "B,Lease,2026-03-01,U012ABCDEF,3650 days,,,",
    )
    assert registry.problems == []
    assert [i.first_alert_days for i in registry.items] == [0, 3650]
    assert registry.items[0].notice_date == registry.items[0].expiry_date


def test_duplicate_item_ids_reject_every_row_carrying_them():
    registry = _load(
        HEADER,
        "L1,Lease,2026-03-01,U012ABCDEF",
        "D1,Domain,2026-03-01,U012ABCDEF",
        "L2,Van,2026-03-01,U012ABCDEF",
        "D1,Domain again,2026-03-01,U012ABCDEF",
        "L1,Lease copy,bad date,U012ABCDEF",
        "L1,Lease three,2026-03-01,U012ABCDEF",
    )
    assert [i.item_id for i in registry.items] == ["L2"]
    assert _problems(registry) == [
        'registry.csv: row 2, column item_id: item_id "L1" is used by rows 2, 6 and 7; each item '
        "needs its own id",
        'registry.csv: row 3, column item_id: item_id "D1" is used by rows 3 and 5; each item needs '
        "its own id",
        'registry.csv: row 5, column item_id: item_id "D1" is used by rows 3 and 5; each item needs '
        "its own id",
        'registry.csv: row 6, column item_id: item_id "L1" is used by rows 2, 6 and 7; each item '
        "needs its own id",
        'registry.csv: row 6, column expiry_date: "bad date" is not a date: write it like 2026-03-01 '
        "or 1 Mar 2026",
        'registry.csv: row 7, column item_id: item_id "L1" is used by rows 2, 6 and 7; each item '
        "needs its own id",
    ]


def test_retired_rows_load_with_status_retired():
    registry = _load(
        HEADER + ",status", "L1,Old lease,2024-03-01,U012ABCDEF,Retired", "L2,Lease,2026-03-01,U012ABCDEF,"
    )
    assert [(i.item_id, i.status) for i in registry.items] == [("L1", "retired"), ("L2", "active")]


def test_retired_row_with_missing_or_bad_expiry_is_left_out_quietly():
    registry = _load(
        HEADER + ",status",
        "L1,Old lease,,U012ABCDEF,retired",
        "L2,Old van,TBD,U012ABCDEF,retired",
        "L3,Lease,2026-03-01,U012ABCDEF,active",
    )
    assert registry.problems == []
    assert [i.item_id for i in registry.items] == ["L3"]


def test_retired_rows_are_otherwise_validated():
    registry = _load(
        HEADER + ",status",
        "L1,Old lease,TBD,bob,retired",
        "L2,Old van,2024-01-01,U012ABCDEF,retired",
        "L2,Van,2026-01-01,U012ABCDEF,active",
    )
    assert registry.items == []
    assert _problems(registry) == [
        'registry.csv: row 2, column owner: "bob" is not a Slack user ID (like U012ABCDEF) or an '
        "email address",
        'registry.csv: row 3, column item_id: item_id "L2" is used by rows 3 and 4; each item needs '
        "its own id",
        'registry.csv: row 4, column item_id: item_id "L2" is used by rows 3 and 4; each item needs '
        "its own id",
    ]


def test_xlsx_registry_with_real_date_cells():
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Item ID", "Item", "Expiry Date", "Owner", "First Alert Days", "Notice Date"])
    sheet.append(["L1", "Lease", datetime(2026, 3, 1), "U012ABCDEF", 90, None])
    sheet.append([None] * 6)
    sheet.append(["L2", "Van", "1 Mar 2026", "van@example.com", None, date(2026, 4, 1)])
    out = io.BytesIO()
    book.save(out)
    registry = load_registry(out.getvalue(), "Registry.xlsx")
    assert [(i.item_id, i.row, i.expiry_date, i.first_alert_days) for i in registry.items] == [
        ("L1", 2, date(2026, 3, 1), 90)
    ]
    assert _problems(registry) == [
        "Registry.xlsx: row 4, column notice_date: the notice_date 2026-04-01 is after the "
        "expiry_date 2026-03-01; "
        "the notice date is the last day to cancel and must be on or before the expiry"
    ]


def test_item_to_row_round_trips_through_the_sheet():
    item = Item(
        "P1",
        "Fire insurance",
        date(2027, 3, 1),
        "ops@example.com",
        row=2,
        notice_date=date(2027, 1, 31),
        first_alert_days=0,
        renewal_term="1 year",
        status="retired",
        last_renewed=date(2026, 3, 1),
        extra={"vendor": "Acme", "status": "ignored: the field wins"},
    )
    row = item_to_row(item)
    assert row == {
        "item_id": "P1",
        "item": "Fire insurance",
        "expiry_date": "2027-03-01",
        "owner": "ops@example.com",
        "category": "",
        "owner_email": "",
        "notice_date": "2027-01-31",
        "first_alert_days": "0",
        "renewal_term": "1 year",
        "notes": "",
        "renewal_link": "",
        "status": "retired",
        "last_renewed": "2026-03-01",
        "vendor": "Acme",
    }
    loaded = load_registry(write_csv(list(row), [row]), "mirror.csv")
    assert loaded.items == [Item(**{**item.__dict__, "extra": {"vendor": "Acme"}})]


def test_item_to_row_leaves_unset_values_blank():
    row = item_to_row(Item("A", "x", date(2026, 1, 1), "U0123456", 2))
    assert (row["notice_date"], row["first_alert_days"], row["last_renewed"], row["status"]) == (
        "",
        "",
        "",
        "active",
    )


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("1 year", (1, "year")),
        ("2 years", (2, "year")),
        ("12 months", (12, "month")),
        ("6 month", (6, "month")),
        ("90 days", (90, "day")),
        ("1 day", (1, "day")),
        ("2 weeks", (2, "week")),
        ("3yrs", (3, "year")),
        (" 2  Years ", (2, "year")),
        ("Annual", (1, "year")),
        ("annually", (1, "year")),
        ("yearly", (1, "year")),
        ("monthly", (1, "month")),
        ("quarterly", (3, "month")),
        ("weekly", (1, "week")),
    ],
)
def test_parse_term(text, term):
    assert parse_term(text) == term


@pytest.mark.parametrize("text", ["", "year", "1", "1 fortnight", "one year", "1.5 years", "-1 year"])
def test_parse_term_rejects_nonsense(text):
    with pytest.raises(ValueError) as info:
        parse_term(text)
    assert str(info.value) == (
        f'"{text.strip()}" is not a renewal term: write it like 1 year, 6 months, 90 days or 2 weeks'
    )


def test_parse_term_rejects_zero_and_absurd_lengths():
    with pytest.raises(ValueError) as info:
        parse_term("101 years")
    assert str(info.value) == '"101 years" is not a usable renewal term: use 1 to 100 years'
    with pytest.raises(ValueError, match="use 1 to 1200 months"):
        parse_term("0 months")


@pytest.mark.parametrize(
    ("start", "term", "end"),
    [
        (date(2026, 3, 1), "1 year", date(2027, 3, 1)),
        (date(2026, 1, 31), "1 month", date(2026, 2, 28)),
        (date(2028, 1, 31), "monthly", date(2028, 2, 29)),
        (date(2028, 2, 29), "1 year", date(2029, 2, 28)),
        (date(2028, 2, 29), "4 years", date(2032, 2, 29)),
        (date(2026, 8, 31), "quarterly", date(2026, 11, 30)),
        (date(2026, 11, 30), "3 months", date(2027, 2, 28)),
        (date(2026, 12, 15), "1 month", date(2027, 1, 15)),
        (date(2026, 5, 31), "18 months", date(2027, 11, 30)),
        (date(2026, 3, 1), "12 months", date(2027, 3, 1)),
        (date(2028, 2, 1), "30 days", date(2028, 3, 2)),
        (date(2026, 12, 25), "2 weeks", date(2027, 1, 8)),
    ],
)
def test_add_term(start, term, end):
    assert add_term(start, term) == end


def test_add_term_with_a_bad_term():
    with pytest.raises(ValueError, match="is not a renewal term"):
        add_term(date(2026, 1, 1), "soon")


def test_loaded_items_are_the_constructors_items_frozen_hashable_and_replaceable():
    import dataclasses

    (loaded,) = _load(HEADER + ",category", "L1,Office lease,2026-03-01,U012ABCDEF,Property").items
    built = Item("L1", "Office lease", date(2026, 3, 1), "U012ABCDEF", row=2, category="Property")
    assert loaded == built and hash(loaded) == hash(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.owner = "someone@example.com"
    assert dataclasses.replace(loaded, category="Lease") == dataclasses.replace(built, category="Lease")
