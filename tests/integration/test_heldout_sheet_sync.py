"""Held-out registries through the real drive-sync handler (Google stand-in → the real Sheets client →
moto S3) and the tick that reads what it mirrored: sheets the team had not seen, kept as small
businesses keep them. DESIGN.md §5: a bad row is reported by row and column and skipped while the rest
runs; a sheet that cannot be a registry is kept out and the last good one stays in force."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alerts import ADMIN, ADMIN_SLACK, admin_messages

from ew.items import load_registry
from ew.reporting import registry_items
from ew_local.cloud import NAMES, SHEET_ID, SHEET_TAB, LocalCloud
from ew_local.fake_google import FakeGoogle, service_account_info
from opskit.sheets import SheetTable, sheets_service

RULES = "[default]\nfirst alert: 60 days before\nreminder: every 14 days\nescalate: 7 days before\n"
VOICE = "[first_alert]\nHeads up: {item} runs out on {expiry_date}.\n"
GOOD = [
    ["item_id", "item", "expiry_date", "owner"],
    ["A-1", "Office lease", "2027-01-01", "U04LEASE01"],
    ["A-2", "Van insurance", "1 Jan 2027", "U04FIN0001"],
]


def local_cloud(**settings: str) -> LocalCloud:
    return LocalCloud(
        {"timezone": "Europe/London", "admin": ADMIN, **settings}, slack_users={ADMIN: ADMIN_SLACK}
    )


def with_sheet(local: LocalCloud, rows: list[list[str]]) -> LocalCloud:
    local.publish(b"", RULES, VOICE)
    local.google.add_sheet(SHEET_ID, SHEET_TAB, rows)
    return local


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with local_cloud() as local:
        yield with_sheet(local, GOOD)


def put_sheet(cloud: LocalCloud, rows: list[list[str]]) -> None:
    """Someone edits the live sheet; the Sheets API gives back what it shows (trailing blanks dropped)."""
    cloud.google.add_sheet(SHEET_ID, SHEET_TAB, rows)


def test_a_title_row_keeps_the_sheet_out_and_the_admin_is_told_where_the_header_is(cloud: LocalCloud) -> None:
    cloud.drive_sync()
    good = cloud.read_source("registry.csv")
    put_sheet(cloud, [["Acme Ltd renewals register"], [], *GOOD])
    assert cloud.drive_sync()["kept_out"] == ["registry.csv"]
    assert cloud.read_source("registry.csv") == good
    assert admin_messages(cloud) == [
        "The registry sheet was not taken in: 1 problem to fix.\n"
        "• header: the column names must be in row 1, but they are in row 3: delete rows 1 to 2 "
        "(a title or a note) so that they move up to row 1\n\n"
        "The watcher keeps using the last version that read cleanly until it is fixed. "
        "You will hear from me again when it is."
    ]
    assert cloud.tick(datetime(2026, 11, 23, 8, tzinfo=UTC))[0]["items"] == 2


def test_formula_errors_in_the_live_sheet_are_row_problems_and_the_rest_runs(cloud: LocalCloud) -> None:
    put_sheet(
        cloud,
        [
            ["Item ID:", "Item:", "Expiry date:", "Owner:", "Supplier (lookup)"],
            ["A-1", "Office lease", "2027-01-01", "U04LEASE01", "#N/A"],
            ["#N/A", "Van insurance", "1 Jan 2027", "U04FIN0001"],
            ["A-3", "Premises licence", "#REF!", "U04FIN0001"],
        ],
    )
    report = cloud.drive_sync()
    assert report["rows_skipped"] == 2
    failed = "the error of a formula that failed; fix the formula or type the value"
    assert json.loads(cloud.read_source("problems.json") or b"") == {
        "count": 2,
        "problems": [
            {"where": "row 3, column item_id", "message": f"the cell shows #N/A, {failed}"},
            {"where": "row 4, column expiry_date", "message": f"the cell shows #REF!, {failed}"},
        ],
    }
    tick, _ = cloud.tick(datetime(2026, 11, 23, 8, tzinfo=UTC))
    assert tick["items"] == 1 and tick["moves"] == {"first_alert": 1}


def test_a_doubled_and_an_unnamed_scratch_column_are_reported_and_the_sheet_runs(cloud: LocalCloud) -> None:
    # Column F was pasted in without a name, and "Supplier" was added a second time, further right.
    header = ["Item ID", "Item", "Expiry date", "Owner", "Supplier", "", "supplier"]
    rows = [
        ["A-1", "Office lease", "2027-01-01", "U04LEASE01", "Harbour Estates", "call Tom", "Harbour Ltd"],
        ["A-2", "Van insurance", "1 Jan 2027", "U04FIN0001"],
    ]
    put_sheet(cloud, [header, *rows])
    report = cloud.drive_sync()
    assert report["kept_out"] == [] and report["rows_skipped"] == 0
    assert "registry.csv" in report["written"]
    doubled = (
        'columns E ("Supplier") and G ("supplier") have the same name; column E is read and column G is '
        "left out; each column needs its own name"
    )
    unnamed = (
        "column F has values (the first in row 2) but no name in row 1, so they are left out; give it a "
        "name or clear it"
    )
    assert json.loads(cloud.read_source("problems.json") or b"") == {
        "count": 2,
        "problems": [{"where": "header", "message": doubled}, {"where": "header", "message": unnamed}],
    }
    assert admin_messages(cloud) == [
        "2 new problems in the registry sheet (no row is skipped; the sheet is in force):\n"
        f"• header: {doubled}\n• header: {unnamed}"
    ]
    # What the tick and the weekly digest read: every item, the first Supplier's values, both problems.
    mirrored = load_registry(cloud.read_source("registry.csv") or b"")
    assert [(i.item_id, dict(i.extra)) for i in mirrored.items] == [
        ("A-1", {"supplier": "Harbour Estates"}),
        ("A-2", {"supplier": ""}),
    ]
    _, sheet_problems = registry_items(cloud.s3, NAMES["EW_REGISTRY_BUCKET"], None)
    assert sheet_problems == [f"registry.csv: header: {doubled}", f"registry.csv: header: {unnamed}"]
    tick, _ = cloud.tick(datetime(2026, 11, 23, 8, tzinfo=UTC))
    assert tick["items"] == 2 and tick["moves"] == {"first_alert": 2}

    cloud.drive_sync()  # told once
    put_sheet(cloud, [header[:5], *(row[:5] for row in rows)])  # the two columns cleaned up
    cloud.drive_sync()
    assert len(admin_messages(cloud)) == 2
    assert admin_messages(cloud)[1] == "The registry sheet reads cleanly again: every row and column is read."
    assert json.loads(cloud.read_source("problems.json") or b"")["count"] == 0


@pytest.mark.parametrize("doubled", ["owner", "Expiry Date", "Item ID"])
def test_a_column_the_watcher_reads_twice_keeps_the_sheet_out(cloud: LocalCloud, doubled: str) -> None:
    cloud.drive_sync()
    good = cloud.read_source("registry.csv")
    put_sheet(
        cloud,
        [
            ["Item ID", "Item", "Expiry Date", "Owner", "Notes", doubled],
            ["A-1", "Office lease", "2027-01-01", "U04LEASE01", "", "U04OTHER01"],
        ],
    )
    assert cloud.drive_sync()["kept_out"] == ["registry.csv"]
    assert cloud.read_source("registry.csv") == good
    letter = {"owner": "D", "Expiry Date": "C", "Item ID": "A"}[doubled]
    first = {"owner": "Owner", "Expiry Date": "Expiry Date", "Item ID": "Item ID"}[doubled]
    assert admin_messages(cloud) == [
        "The registry sheet was not taken in: 1 problem to fix.\n"
        f'• header: columns {letter} ("{first}") and F ("{doubled}") have the same name; each column '
        "needs its own name\n\n"
        "The watcher keeps using the last version that read cleanly until it is fixed. "
        "You will hear from me again when it is."
    ]
    assert cloud.tick(datetime(2026, 11, 23, 8, tzinfo=UTC))[0]["items"] == 2


def test_dates_as_a_us_locale_sheet_shows_them_need_the_date_order() -> None:
    rows = [GOOD[0], ["A-1", "Office lease", "1/3/2027", "U04LEASE01"], ["A-2", "Van", "46388", "U04FIN0001"]]
    with local_cloud(date_order="mdy") as local:
        with_sheet(local, rows)
        assert local.drive_sync()["rows_skipped"] == 0
        items = load_registry(local.read_source("registry.csv") or b"", date_order="mdy").items
        assert [(i.item_id, i.expiry_date.isoformat()) for i in items] == [
            ("A-1", "2027-01-03"),
            ("A-2", "2027-01-01"),
        ]
    with local_cloud() as local:  # no date order configured: the admin hears which row and why
        with_sheet(local, rows)
        assert local.drive_sync()["rows_skipped"] == 1
        assert admin_messages(local)[0].splitlines()[1] == (
            '• row 2, column expiry_date: "1/3/2027" is ambiguous: set the date order (day-month-year or '
            "month-day-year) or write it as 2027-03-01 or 2027-01-03"
        )


def test_ten_thousand_rows_with_four_bad_ones(cloud: LocalCloud) -> None:
    rows = [["Item ID", "Item", "Expiry Date", "Owner", "Notes"]]
    for i in range(10_000):
        owner = "U04LEASE01" if i % 2 else f"p{i}@acme.example"
        rows.append([f"R-{i:05d}", f"Thing {i} \u2713", f"2027-{i % 12 + 1:02d}-{i % 28 + 1:02d}", owner, ""])
    rows[500][2], rows[7000][3], rows[9999][0] = "31/02/2027", "Jane", "R-00001"
    rows += [[], [""] * 5]  # trailing blank rows, as a sheet with room to grow has
    put_sheet(cloud, rows)
    report = cloud.drive_sync()
    assert (
        report["written"] == ["registry.csv", "problems.json", "rules.txt", "voice.txt"]
        and report["rows_skipped"] == 4
    )
    registry = load_registry(cloud.read_source("registry.csv") or b"")
    assert len(registry.items) == 9_996
    assert [p.where for p in registry.problems] == [
        "row 3, column item_id",
        "row 501, column expiry_date",
        "row 7001, column owner",
        "row 10000, column item_id",
    ]
    (told,) = admin_messages(cloud)
    assert told.startswith("4 new problems in the registry sheet (4 rows skipped in all until fixed;")


def test_the_renew_write_back_finds_a_row_whose_id_carries_an_invisible_character() -> None:
    # The tick reads "A-1" (the zero-width space pasted after it is not part of the id); the write-back
    # must find the same row, or a Renew click could never reach the sheet.
    with FakeGoogle() as fake:
        fake.add_sheet("book", "Registry", [["Item ID", "Expiry Date"], ["A-1\u200b", "2026-03-01"]])
        table = SheetTable(sheets_service(service_account_info(fake), endpoint=fake.url), "book", "Registry")
        assert (
            table.update_if_unchanged(
                "item_id", "A-1", {"expiry_date": "2026-03-01"}, {"expiry_date": "2027-03-01"}
            )
            == 2
        )
        assert fake.rows("book", "Registry")[1] == ["A-1\u200b", "2027-03-01"]


def test_a_sheet_emptied_below_its_header_is_taken_in_and_the_admin_is_told(cloud: LocalCloud) -> None:
    cloud.drive_sync()
    put_sheet(cloud, [["Item ID", "Item", "Expiry Date", "Owner"]])
    report = cloud.drive_sync()
    assert report["kept_out"] == [] and "registry.csv" in report["written"]
    assert cloud.tick(datetime(2026, 11, 23, 8, tzinfo=UTC))[0]["items"] == 0
    assert admin_messages(cloud)[-1] == (
        "1 new problem in the registry sheet (no row is skipped; the sheet is in force):\n"
        "• sheet: there are no rows below the header: nothing is watched"
    )
