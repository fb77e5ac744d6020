"""`ew digest` and `ew summary`: what an admin would read before deploying."""

from __future__ import annotations

from pathlib import Path

import pytest

from ew_local.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ew_digest_prints_the_weeks_digest_after_replaying_the_example(capsys, example_dir: Path) -> None:
    code, out, err = run(
        capsys,
        "digest",
        "--date",
        "2026-11-29",
        "--start",
        "2026-11-23",
        "--acks",
        str(example_dir / "acks.csv"),
    )
    assert (code, err) == (0, "")
    assert out.startswith(
        "(replayed 7 daily ticks, 2026-11-23 to 2026-11-29)\n\n--- Slack, channel C0EWDIGEST ---\n"
    )
    assert "Weekly digest: 23-29 Nov 2026\n" in out
    flat = " ".join(out.split())  # the terminal rendering wraps long lines
    assert "*Pings sent:* 16 (11 first alerts, 2 reminders, 3 escalations; 11 by Slack, 5 by email)" in flat
    assert "*Answers:* 1 (1 snoozed)" in flat  # acks.csv: ACME-002 snoozed on the 25th
    assert (
        "• *Public liability insurance* · @U04FIN0001 · 15 Dec 2026 (in 16 days) · snoozed until 30 Nov 2026"
        in flat
    )
    assert (
        "• *acme.example domain* · @U04IT00001 · 28 Dec 2026 (in 29 days) · first alert on 30 Nov 2026"
        in flat
    )


def test_ew_digest_without_a_channel_prints_the_admins_email(capsys) -> None:
    code, out, _ = run(capsys, "digest", "--date", "2026-11-29", "--start", "2026-11-29", "--channel", "")
    assert code == 0
    assert "--- Email to ops@acme.example ---\nSubject: Expiry Watcher weekly digest: 23-29 Nov 2026\n" in out


def test_ew_summary_prints_the_plain_summary_email(capsys) -> None:
    code, out, _ = run(
        capsys, "summary", "--month", "2026-11", "--start", "2026-11-23", "--to", "board@acme.example"
    )
    assert code == 0
    assert "no Bedrock in the local runner, so the plain" in out
    assert "--- Email to board@acme.example ---\nSubject: Expiry Watcher: November 2026 summary\n" in out
    assert "In November 2026 the watcher sent " in out
    assert "The figures for November 2026:\n- Alerts sent: " in out


def test_bad_arguments_are_refused_in_plain_words(capsys, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["summary", "--month", "November"])
    assert exit_info.value.code == 2
    assert '"November" is not a month like 2026-11' in capsys.readouterr().err
    code, _, err = run(capsys, "digest", "--date", "2026-11-29", "--start", "2026-12-01")
    assert (code, err) == (2, "--start 2026-12-01 is after the report's last day 2026-11-29\n")
    bad_rules = tmp_path / "rules.txt"
    bad_rules.write_text("[default]\nfirst alert: soon\n")
    code, _, err = run(capsys, "digest", "--date", "2026-11-29", "--rules", str(bad_rules))
    assert code == 2 and "rules.txt: line 2" in err
