"""`ew check`: what an admin sees for each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from ew_local.cli import main

HEADER = "item_id,item,category,expiry_date,owner,notice_date,first_alert_days,status\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(["check", *argv])
    return code, capsys.readouterr().out.splitlines()


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_bundled_example_is_clean(capsys: pytest.CaptureFixture[str], example_dir: Path) -> None:
    code, out = run(
        capsys,
        "--sheet", str(example_dir / "registry.csv"),
        "--rules", str(example_dir / "rules.txt"),
        "--voice", str(example_dir / "voice.txt"),
    )  # fmt: skip
    assert code == 0
    assert out == ["No problems in the sheet, rules, voice: 19 active items, 1 retired."]


def test_every_bad_row_is_reported_with_row_and_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sheet = write(
        tmp_path,
        "registry.csv",
        HEADER
        + "A1,Lease,contract,2027-01-31,U04LEASE01,,,\n"
        + "A2,Insurance,insurance,31/02/2026,U04FIN0001,,,\n"
        + "A3,Domain,domain,2027-01-01,bob,,,\n"
        + "A1,Permit,licence,2027-02-01,ops@example.com,2027-03-01,lots,paused\n",
    )
    code, out = run(capsys, "--sheet", sheet)
    assert code == 1
    assert out == [
        'registry.csv: row 2, column item_id: item_id "A1" is used by rows 2 and 5; each item needs its own id',
        'registry.csv: row 3, column expiry_date: "31/02/2026" is not a real date',
        'registry.csv: row 4, column owner: "bob" is not a Slack user ID (like U012ABCDEF) or an email address',
        'registry.csv: row 5, column item_id: item_id "A1" is used by rows 2 and 5; each item needs its own id',
        "registry.csv: row 5, column notice_date: the notice_date 2027-03-01 is after the expiry_date "
        "2027-02-01; the notice date is the last day to cancel and must be on or before the expiry",
        'registry.csv: row 5, column first_alert_days: "lots" is not a whole number of days from 0 to 3650',
        'registry.csv: row 5, column status: "paused" is not a status; write active or retired (blank means active)',
        "7 problems found.",
    ]


def test_numeric_dates_read_with_the_date_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    sheet = write(tmp_path, "registry.csv", HEADER + "A1,Lease,contract,01/03/2027,U04LEASE01,,,\n")
    code, out = run(capsys, "--sheet", sheet)
    assert code == 1 and "is ambiguous" in out[0]
    code, out = run(capsys, "--sheet", sheet, "--date-order", "dmy")
    assert code == 0


def test_a_header_without_a_required_column_is_one_clear_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sheet = write(tmp_path, "registry.csv", "item_id,item,owner\nA1,Lease,U04LEASE01\n")
    code, out = run(capsys, "--sheet", sheet)
    assert code == 1
    assert out == [
        "registry.csv: header: the header has no expiry_date column; "
        "the sheet needs item_id, item, expiry_date and owner",
        "1 problem found.",
    ]


def test_xlsx_sheets_are_checked_with_sheet_row_numbers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from datetime import datetime

    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["Item ID", "Item", "Expiry Date", "Owner"])
    ws.append(["A1", "Lease", datetime(2027, 1, 31), "U04LEASE01"])
    ws.append(["A2", "Van insurance", "next week", "U04FIN0001"])
    path = tmp_path / "registry.xlsx"
    book.save(path)
    code, out = run(capsys, "--sheet", str(path))
    assert code == 1
    assert out[0] == (
        'registry.xlsx: row 3, column expiry_date: "next week" is not a date: write it like 2026-03-01 or 1 Mar 2026'
    )


def test_a_broken_xlsx_is_a_plain_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "registry.xlsx"
    path.write_bytes(b"this is not a workbook")
    code, out = run(capsys, "--sheet", str(path))
    assert code == 1
    assert out[0] == (
        "registry.xlsx: file: could not read the file as an Excel workbook; save it again as .xlsx and retry"
    )


def test_rules_typos_name_their_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, example_dir: Path
) -> None:
    rules = write(
        tmp_path,
        "rules.txt",
        "[default]\nfirst alert: 60 days before\nremind: every 14 days\n\n[insurance]\nreminder: fortnightly\n"
        "closed: 2026-12-24, tomorrow\n",
    )
    code, out = run(capsys, "--sheet", str(example_dir / "registry.csv"), "--rules", rules)
    assert code == 1
    assert out[:3] == [
        'rules.txt: line 3: unknown setting "remind": did you mean "reminder"?',
        'rules.txt: line 6: reminder: expected "every N days", found "fortnightly"',
        'rules.txt: line 7: closed: "tomorrow" is not a date: write it like 2026-03-01 or 1 Mar 2026',
    ]


def test_voice_unknown_placeholder_names_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, example_dir: Path
) -> None:
    voice = write(tmp_path, "voice.txt", "[first_alert]\nHello {owner},\n{item} expires on {expiry}.\n")
    code, out = run(capsys, "--sheet", str(example_dir / "registry.csv"), "--voice", voice)
    assert code == 1
    assert out[0].startswith(
        "voice.txt: line 3: unknown placeholder {expiry}: use one of {category}, {days_left}"
    )


def test_a_missing_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run(capsys, "--sheet", str(tmp_path / "nope.csv"))
    assert code == 1
    assert out[0] == f"nope.csv: file: cannot open {tmp_path / 'nope.csv'}: No such file or directory"
