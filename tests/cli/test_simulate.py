"""`ew simulate` end to end: what an admin tuning their rules would read."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from ew_local.cli import main

RULES = "[default]\nfirst alert: 30 days before\nreminder: every 7 days\nescalate: 5 days before\n"


def simulate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["simulate", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def deliveries(out: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in out.splitlines()]


def sheet(tmp_path: Path, *rows: str) -> str:
    path = tmp_path / "registry.csv"
    path.write_text("item_id,item,category,expiry_date,owner\n" + "".join(r + "\n" for r in rows))
    return str(path)


def rules(tmp_path: Path, text: str = RULES) -> str:
    path = tmp_path / "rules.txt"
    path.write_text(text)
    return str(path)


def example_args(example_dir: Path, *extra: str) -> list[str]:
    return [
        "--sheet", str(example_dir / "registry.csv"),
        "--rules", str(example_dir / "rules.txt"),
        "--voice", str(example_dir / "voice.txt"),
        "--acks", str(example_dir / "acks.csv"),
        "--start", "2026-11-23", "--days", "21",
        "--timezone", "Europe/London", "--holidays", "GB-ENG", "--admin", "ops@acme.example",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def example_json() -> tuple[int, str, str]:
    """Three weeks of the example with its clicks, as JSON lines: run once for the tests that read it."""
    example = Path(__file__).resolve().parents[2] / "examples" / "acme"
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["simulate", *example_args(example, "--json")])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.xdist_group("acme-json")  # one worker runs the example once for both readers
def test_example_json_lines(example_json: tuple[int, str, str]) -> None:
    code, out, err = example_json
    assert code == 0 and err == ""
    sent = deliveries(out)
    assert all(set(d) == {"date", "item_id", "move", "recipient", "channel", "send_at"} for d in sent)
    by_key = {(d["date"], d["item_id"]): d for d in sent}
    # Monday: first alerts go out at 08:00 London time, Slack for U… owners and email for addresses.
    assert by_key[("2026-11-23", "ACME-002")] == {
        "date": "2026-11-23", "item_id": "ACME-002", "move": "first_alert", "recipient": "U04FIN0001",
        "channel": "slack", "send_at": "2026-11-23T08:00:00+00:00",
    }  # fmt: skip
    assert by_key[("2026-11-23", "ACME-004")]["channel"] == "email"
    # Saturday's first alert waits for Monday 08:00.
    assert by_key[("2026-11-28", "ACME-005")]["send_at"] == "2026-11-30T08:00:00+00:00"
    # Insurance escalates 14 days out to the category's escalation owner...
    assert by_key[("2026-12-01", "ACME-002")]["move"] == "escalate"
    assert by_key[("2026-12-01", "ACME-002")]["recipient"] == "U04BOSS001"
    # ...the rest to the [default] escalation owner.
    assert by_key[("2026-11-27", "ACME-013")]["recipient"] == "ops@acme.example"
    # Retired items never appear.
    assert not [d for d in sent if d["item_id"] == "ACME-015"]


@pytest.mark.xdist_group("acme-json")
def test_example_clicks_change_what_follows(example_json: tuple[int, str, str]) -> None:
    _, out, _ = example_json
    sent = deliveries(out)

    def dates(item_id: str) -> list[str]:
        return [d["date"] for d in sent if d["item_id"] == item_id]

    # ACME-013 was acked after its escalation on 1 Dec: no more escalations.
    assert dates("ACME-013") == ["2026-11-23", "2026-11-27"]
    # ACME-006 was renewed on 2 Dec: its chain is closed, the new expiry is far away.
    assert max(dates("ACME-006")) < "2026-12-02"
    # ACME-002 was snoozed to 30 Nov: the reminder waits until the snooze runs out.
    assert [d["date"] for d in sent if d["item_id"] == "ACME-002" and d["move"] == "reminder"] == [
        "2026-11-30"
    ]
    # ACME-017 is not answered: it keeps escalating every 3 days after expiry, weekends included,
    # because it is already past its deadline.
    assert dates("ACME-017")[-3:] == ["2026-12-06", "2026-12-09", "2026-12-12"]


def test_example_text_shows_the_day_by_day_table(
    capsys: pytest.CaptureFixture[str], example_dir: Path
) -> None:
    # Ten days reach the renewal clicked on 2 Dec; the whole three weeks are the JSON tests' run.
    code, out, _ = simulate(capsys, *example_args(example_dir, "--days", "10"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "2026-11-23 Mon"
    assert (
        "  ACME-005   first_alert  -> U04IT00001 by slack, Mon 30 Nov 08:00 GMT (deferred: Saturday)" in lines
    )
    assert "  after the tick: ACME-006 renew 2027-03-09" in lines
    assert "2026-11-24 Tue" in lines and lines[lines.index("2026-11-24 Tue") + 1] == "  nothing to send"


def test_dst_change_keeps_local_eight_oclock(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # New York falls back on Sunday 1 Nov 2026: 08:00 is -04:00 before and -05:00 after.
    args = [
        "--sheet", sheet(tmp_path, "N1,Permit,,2026-11-29,U04OPS0001", "N2,Lease,,2026-11-30,U04OPS0001"),
        "--rules", rules(tmp_path), "--start", "2026-10-29", "--days", "3",
        "--timezone", "America/New_York", "--json",
    ]  # fmt: skip
    code, out, _ = simulate(capsys, *args)
    assert code == 0
    assert [(d["date"], d["item_id"], d["send_at"]) for d in deliveries(out)] == [
        ("2026-10-30", "N1", "2026-10-30T08:00:00-04:00"),
        ("2026-10-31", "N2", "2026-11-02T08:00:00-05:00"),
    ]


def test_holidays_and_closed_days_defer(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules_text = RULES + "closed: 2026-12-29\n"
    args = [
        "--sheet", sheet(tmp_path, "H1,Licence,,2027-01-24,U04OPS0001"),
        "--rules", rules(tmp_path, rules_text), "--start", "2026-12-25", "--days", "1",
        "--holidays", "GB-ENG", "--json",
    ]  # fmt: skip
    code, out, _ = simulate(capsys, *args)
    assert code == 0
    # Christmas Day (Fri), the weekend, Boxing Day observed (Mon 28), the office's closed day (Tue 29).
    assert deliveries(out) == [
        {"date": "2026-12-25", "item_id": "H1", "move": "first_alert", "recipient": "U04OPS0001",
         "channel": "slack", "send_at": "2026-12-30T08:00:00+00:00"}
    ]  # fmt: skip


def test_an_item_due_before_the_deferred_time_is_sent_now(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Saturday tick, expiry on Sunday: waiting for Monday would be too late.
    args = [
        "--sheet", sheet(tmp_path, "S1,Certificate,,2026-11-29,U04IT00001"),
        "--rules", rules(tmp_path), "--start", "2026-11-28", "--days", "1",
    ]  # fmt: skip
    code, out, _ = simulate(capsys, *args)
    assert code == 0
    assert out.splitlines()[1] == (
        "  S1         first_alert  -> U04IT00001 by slack, Sat 28 Nov 08:00 UTC "
        "(sent on Saturday because the deadline 2026-11-29 is on or before the next business day)"
    )


def test_escalation_goes_to_the_admin_when_the_rules_name_nobody(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = [
        "--sheet", sheet(tmp_path, "E1,Permit,,2026-12-10,U04OPS0001"),
        "--rules", rules(tmp_path), "--start", "2026-12-04", "--days", "2",
        "--admin", "boss@example.com", "--json",
    ]  # fmt: skip
    _, out, _ = simulate(capsys, *args)
    assert [(d["move"], d["recipient"], d["channel"]) for d in deliveries(out)] == [
        ("first_alert", "U04OPS0001", "slack"),
        ("escalate", "boss@example.com", "email"),
    ]


def test_bad_rows_are_skipped_and_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = [
        "--sheet", sheet(tmp_path, "G1,Good,,2026-12-10,U04OPS0001", "B1,Bad,,someday,U04OPS0001"),
        "--rules", rules(tmp_path), "--start", "2026-12-01", "--days", "1", "--json",
    ]  # fmt: skip
    code, out, err = simulate(capsys, *args)
    assert code == 0
    assert [d["item_id"] for d in deliveries(out)] == ["G1"]
    assert err.splitlines() == [
        'skipped: registry.csv: row 3, column expiry_date: "someday" is not a date: '
        "write it like 2026-03-01 or 1 Mar 2026"
    ]


def test_a_rules_doc_that_does_not_parse_stops_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = [
        "--sheet", sheet(tmp_path, "G1,Good,,2026-12-10,U04OPS0001"),
        "--rules", rules(tmp_path, "[default]\nfirst alert: soon\n"), "--start", "2026-12-01", "--days", "1",
    ]  # fmt: skip
    code, out, err = simulate(capsys, *args)
    assert code == 2 and out == ""
    assert err.strip() == 'rules.txt: line 2: first alert: expected "N days before", found "soon"'


@pytest.mark.parametrize(
    ("acks", "message"),
    [
        (
            "date,item_id,action,value\n2026-12-01,G1,renewed,2027-01-01\n",
            'acks.csv: line 2: action "renewed" must be one of ack_only, snooze, renew',
        ),
        (
            "date,item_id,action,value\n2026-12-01,G1,snooze,\n",
            "acks.csv: line 2: snooze needs the snooze-until date: the date is empty",
        ),
        ("date,item,action\n", "acks.csv: line 1: the header must be date,item_id,action,value"),
        (
            "date,item_id,action,value\n2026-12-01,NOPE,ack_only,\n",
            'acks line 2: no item "NOPE" in the sheet',
        ),
    ],
)
def test_bad_acks_files_are_explained(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, acks: str, message: str
) -> None:
    path = tmp_path / "acks.csv"
    path.write_text(acks)
    args = [
        "--sheet", sheet(tmp_path, "G1,Good,,2026-12-10,U04OPS0001"), "--rules", rules(tmp_path),
        "--start", "2026-12-01", "--days", "1", "--acks", str(path), "--json",
    ]  # fmt: skip
    code, _, err = simulate(capsys, *args)
    assert code == 2
    assert err.strip().startswith(message)


def test_bad_flags_are_explained(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = ["--sheet", sheet(tmp_path, "G1,Good,,2026-12-10,U04OPS0001"), "--rules", rules(tmp_path),
            "--start", "2026-12-01", "--days", "1"]  # fmt: skip
    assert simulate(capsys, *base, "--timezone", "Mars/Base")[2].strip() == (
        'unknown timezone "Mars/Base": use a name such as America/New_York or Europe/London'
    )
    assert simulate(capsys, *base, "--quiet-hours", "7pm-8am")[2].strip() == (
        'quiet hours must look like 19:00-08:00, found "7pm-8am"'
    )
    assert simulate(capsys, *base, "--holidays", "XX")[2].strip() == (
        'unknown holiday country "XX": use a two-letter code such as US, GB or DE'
    )


def test_a_renewal_on_a_sheet_without_last_renewed_runs_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # last_renewed is optional (DESIGN.md §5): the write-back skips it instead of stopping the run.
    acks = tmp_path / "acks.csv"
    acks.write_text("date,item_id,action,value\n2026-12-02,R1,renew,2027-12-10\n")
    args = [
        "--sheet", sheet(tmp_path, "R1,Permit,,2026-12-10,U04OPS0001"), "--rules", rules(tmp_path),
        "--acks", str(acks), "--start", "2026-12-01", "--days", "6", "--json",
    ]  # fmt: skip
    code, out, err = simulate(capsys, *args)
    assert (code, err) == (0, "")
    # Renewed on 2 Dec: the escalation due from 5 Dec never comes.
    assert [(d["date"], d["move"]) for d in deliveries(out)] == [("2026-12-01", "first_alert")]


SIX_KEYS = {"date", "item_id", "move", "recipient", "channel", "send_at"}


def test_json_output_stays_json_lines_on_a_long_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Many deliveries make one Powertools metric reach 100 values, the point where it used to print its
    # EMF blob to stdout even with metrics off (a months-long run on the example gets there too).
    rows = [f"M{n:03d},Permit {n},,2026-12-{10 + n % 15:02d},U04OPS{n:04d}" for n in range(120)]
    args = ["--sheet", sheet(tmp_path, *rows), "--rules", rules(tmp_path), "--start", "2026-12-01",
            "--days", "2", "--json"]  # fmt: skip
    code, out, _ = simulate(capsys, *args)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) >= 120
    assert all(set(json.loads(line)) == SIX_KEYS for line in lines)
