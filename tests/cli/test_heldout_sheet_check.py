"""Held-out registries: sheets kept the way a small business really keeps them (a title above the
header, labels with colons, formula errors, invisible characters, an Excel workbook with serial
dates), through `ew check` and `ew simulate` as an admin would run them. What each must do is DESIGN.md
§5: a bad row is reported by row and column in plain words and skipped, the rest still runs; a header
without the required columns is one clear problem."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from ew_local.cli import main

RULES = "[default]\nfirst alert: 30 days before\nreminder: every 7 days\nescalate: 5 days before\n"


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(["check", *argv])
    return code, capsys.readouterr().out.splitlines()


def simulate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, str]], list[str]]:
    code = main(["simulate", *argv])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err.splitlines()


def csv_file(tmp_path: Path, text: str, name: str = "registry.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def workbook(tmp_path: Path, rows: list[list[object]], number_format: dict[str, str] | None = None) -> str:
    """An .xlsx as Excel saves it: real date cells, and cells whose number format the test sets."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    for cell, fmt in (number_format or {}).items():
        sheet[cell].number_format = fmt
    path = tmp_path / "registry.xlsx"
    book.save(path)
    return str(path)


def rules(tmp_path: Path) -> str:
    return csv_file(tmp_path, RULES, "rules.txt")


def test_a_title_row_above_the_header_says_where_the_column_names_are(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sheet = csv_file(
        tmp_path,
        "Acme Ltd - contracts and renewals,,,\n,,,\nitem_id,item,expiry_date,owner\nA1,Lease,2027-01-31,U04LEASE01\n",
    )
    code, out = check(capsys, "--sheet", sheet)
    assert code == 1
    assert out == [
        "registry.csv: header: the column names must be in row 1, but they are in row 3: "
        "delete rows 1 to 2 (a title or a note) so that they move up to row 1",
        "1 problem found.",
    ]


def test_header_labels_with_colons_asterisks_and_odd_spacing_are_the_columns(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sheet = csv_file(
        tmp_path,
        "Item ID:,ITEM *,\u00a0Expiry  Date : ,Owner:,Supplier\nA1,Lease,2027-01-31,U04LEASE01,Harbour Estates\n",
    )
    assert check(capsys, "--sheet", sheet) == (0, ["No problems in the sheet: 1 active items, 0 retired."])


def test_formula_errors_are_reported_by_row_and_column_and_never_taken_as_values(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sheet = csv_file(
        tmp_path,
        "item_id,item,category,expiry_date,owner\n"
        "A1,Lease,contract,2027-01-31,U04LEASE01\n"
        "#N/A,Van insurance,insurance,2027-02-01,U04FIN0001\n"
        "A3,#REF!,licence,2027-03-01,U04FIN0001\n"
        "A4,Permit,#N/A,#VALUE!,#NAME?\n",
    )
    code, out = check(capsys, "--sheet", sheet)
    failed = "the error of a formula that failed; fix the formula or type the value"
    assert code == 1
    assert out == [
        f"registry.csv: row 3, column item_id: the cell shows #N/A, {failed}",
        f"registry.csv: row 4, column item: the cell shows #REF!, {failed}",
        f"registry.csv: row 5, column expiry_date: the cell shows #VALUE!, {failed}",
        f"registry.csv: row 5, column owner: the cell shows #NAME?, {failed}",
        f"registry.csv: row 5, column category: the cell shows #N/A, {failed}",
        "5 problems found.",
    ]


def test_owners_that_no_mail_server_would_take_are_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sheet = csv_file(
        tmp_path,
        "item_id,item,expiry_date,owner\n"
        "A1,Lease,2027-01-31,ana.lopez+leases@acme.example\n"
        "A2,Van,2027-01-31,mailto:ana@acme.example\n"
        "A3,Domain,2027-01-31,<ana@acme.example>\n"
        "A4,Permit,2027-01-31,Ana Lopez\n",
    )
    code, out = check(capsys, "--sheet", sheet)
    assert code == 1
    assert out == [
        f'registry.csv: row {n}, column owner: "{owner}" is not a Slack user ID (like U012ABCDEF) or an email address'
        for n, owner in ((3, "mailto:ana@acme.example"), (4, "<ana@acme.example>"), (5, "Ana Lopez"))
    ] + ["3 problems found."]


def test_invisible_characters_pasted_around_values_are_not_part_of_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sheet = csv_file(
        tmp_path,
        "\u200bitem_id,item,expiry_date,owner\n"
        "A1\u200b,Caf\u00e9 licence \U0001f377,\u00a02027-01-31\u200b,U04LEASE01\u2060\n"
        "A1,Duplicate,2027-02-01,U04LEASE01\n",
    )
    code, out = check(capsys, "--sheet", sheet)
    assert code == 1
    assert (
        out[0]
        == 'registry.csv: row 2, column item_id: item_id "A1" is used by rows 2 and 3; each item needs its own id'
    )


def test_an_xlsx_with_serial_and_formatted_dates_is_judged_as_drive_sync_judges_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # B2's date cell was formatted as a plain number (Sheets and drive-sync read 46417 as 1 Jan 2027);
    # B4 holds a real date cell; B5 a date written as text in an accepted format.
    sheet = workbook(
        tmp_path,
        [
            ["Item ID", "Expiry Date", "Item", "Owner"],
            ["A1", 46417, "Lease", "U04LEASE01"],
            [],
            ["A2", datetime(2026, 12, 24), "Van insurance", "ops@acme.example"],
            ["A3", "1 Dec 2026", "Domain", "U04IT00001"],
            ["A4", "TBC", "Permit", "U04IT00001"],
        ],
        {"B2": "General"},
    )
    code, out = check(capsys, "--sheet", sheet)
    assert code == 1
    assert out == [
        'registry.xlsx: row 6, column expiry_date: "TBC" is not a date: write it like 2026-03-01 or 1 Mar 2026',
        "1 problem found.",
    ]


def test_simulate_runs_an_xlsx_sheet_and_skips_only_its_bad_rows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sheet = workbook(
        tmp_path,
        [
            ["Item ID", "Item", "Expiry Date", "Owner", "Notes"],
            ["A1", "Lease", date(2026, 12, 20), "U04LEASE01", "break clause"],
            ["A2", "Van insurance", 46371, "ops@acme.example", None],
            ["A3", "Permit", "#REF!", "U04LEASE01", None],
        ],
    )
    code, sent, err = simulate(
        capsys, "--sheet", sheet, "--rules", rules(tmp_path), "--start", "2026-11-23", "--days", "1", "--json"
    )
    assert code == 0
    assert [(d["item_id"], d["move"], d["recipient"]) for d in sent] == [
        ("A1", "first_alert", "U04LEASE01"),
        ("A2", "first_alert", "ops@acme.example"),
    ]
    assert err == [
        "skipped: registry.xlsx: row 4, column expiry_date: the cell shows #REF!, "
        "the error of a formula that failed; fix the formula or type the value"
    ]


def test_a_sheet_with_only_its_header_or_nothing_at_all(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    only_header = csv_file(tmp_path, "item_id,item,expiry_date,owner\n,,,\n\n", "header.csv")
    assert check(capsys, "--sheet", only_header) == (
        1,
        ["header.csv: sheet: there are no rows below the header: nothing is watched", "1 problem found."],
    )
    empty = csv_file(tmp_path, "", "empty.csv")
    assert check(capsys, "--sheet", empty) == (
        1,
        [
            "empty.csv: file: the file is empty; the first row should hold the column names",
            "1 problem found.",
        ],
    )


def test_a_csv_saved_by_a_european_excel_with_semicolons(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Where the decimal mark is a comma, Excel's "CSV" separates cells with semicolons.
    sheet = tmp_path / "registry.csv"
    sheet.write_bytes(
        "item_id;item;expiry_date;owner\r\nA1;Caf\u00e9, bar licence;1 Mar 2027;U04LEASE01\r\n".encode(
            "cp1252"
        )
    )
    assert check(capsys, "--sheet", str(sheet)) == (
        0,
        ["No problems in the sheet: 1 active items, 0 retired."],
    )


SCRATCH = (
    "Item ID,Item,Expiry Date,Owner,Supplier,,supplier\n"
    "A1,Lease,2026-12-20,U04LEASE01,Harbour Estates,call Tom,Harbour Ltd\n"
    "A2,Van insurance,2026-12-18,ops@acme.example,,,\n"
)
SCRATCH_PROBLEMS = [
    'registry.csv: header: columns E ("Supplier") and G ("supplier") have the same name; column E is read '
    "and column G is left out; each column needs its own name",
    "registry.csv: header: column F has values (the first in row 2) but no name in row 1, so they are left "
    "out; give it a name or clear it",
]


def test_a_doubled_and_an_unnamed_scratch_column_are_reported_but_do_not_stop_the_sheet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sheet = csv_file(tmp_path, SCRATCH)
    assert check(capsys, "--sheet", sheet) == (1, [*SCRATCH_PROBLEMS, "2 problems found."])
    code, sent, err = simulate(
        capsys, "--sheet", sheet, "--rules", rules(tmp_path), "--start", "2026-11-23", "--days", "1", "--json"
    )
    assert code == 0
    assert [(d["item_id"], d["move"]) for d in sent] == [("A1", "first_alert"), ("A2", "first_alert")]
    assert err == [f"skipped: {problem}" for problem in SCRATCH_PROBLEMS]


def test_a_column_the_watcher_reads_twice_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sheet = csv_file(
        tmp_path, "Item ID,Item,Expiry Date,Owner,owner\nA1,Lease,2026-12-20,U04LEASE01,U04OTHER01\n"
    )
    assert check(capsys, "--sheet", sheet) == (
        1,
        [
            'registry.csv: header: columns D ("Owner") and E ("owner") have the same name; each column needs '
            "its own name",
            "1 problem found.",
        ],
    )
