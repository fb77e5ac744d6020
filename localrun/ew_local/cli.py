"""`ew`: the local runner's command line (DESIGN.md §10)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from opskit.dates import DATE_ORDERS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'"{text}" is not a date like 2026-11-24') from None


def _month(text: str) -> date:
    try:
        return date.fromisoformat(f"{text}-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f'"{text}" is not a month like 2026-11') from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'"{text}" is not a whole number of days (1 or more)')
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ew", description="Expiry Watcher, run locally.")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="lint a registry sheet and the rules/voice docs")
    check.add_argument("--sheet", required=True, help="registry as .csv or .xlsx")
    check.add_argument("--rules", help="rules doc (rules.txt)")
    check.add_argument("--voice", help="voice doc (voice.txt)")
    check.add_argument("--date-order", choices=DATE_ORDERS, help="how to read numeric dates like 01/03/2026")

    sim = sub.add_parser("simulate", help="replay the watcher day by day and print what it would send")
    sim.add_argument("--sheet", required=True, help="registry as .csv or .xlsx")
    sim.add_argument("--rules", required=True, help="rules doc (rules.txt)")
    sim.add_argument("--voice", help="voice doc (voice.txt)")
    sim.add_argument("--start", required=True, type=_iso_date, help="first tick date, YYYY-MM-DD")
    sim.add_argument("--days", required=True, type=_positive, help="number of daily ticks")
    sim.add_argument("--timezone", default="UTC", help="IANA timezone, e.g. Europe/London (default UTC)")
    sim.add_argument("--holidays", help="holiday country and optional region, e.g. GB-ENG or US")
    sim.add_argument("--quiet-hours", default="19:00-08:00", help="quiet window (default 19:00-08:00)")
    sim.add_argument("--admin", help="fallback escalation owner (Slack user ID or email)")
    sim.add_argument("--acks", help="CSV date,item_id,action,value of clicks to replay")
    sim.add_argument("--date-order", choices=DATE_ORDERS, help="how to read numeric dates like 01/03/2026")
    sim.add_argument("--json", action="store_true", help="one JSON object per delivery per line")
    demo = sub.add_parser("demo", help="run the daily path on the bundled example, through the real handlers")
    demo.add_argument(
        "--example", default=str(EXAMPLE), help="folder with registry.csv, rules.txt, voice.txt"
    )
    demo.add_argument("--date", type=_iso_date, default=date(2026, 11, 23), help="tick date (a weekday)")
    demo.add_argument("--timezone", default="Europe/London")
    demo.add_argument("--holidays", default="GB-ENG")
    demo.add_argument("--admin", default="ops@acme.example")

    digest = sub.add_parser("digest", help="replay the watcher up to a day and print that week's digest")
    digest.add_argument(
        "--date", required=True, type=_iso_date, help="the digest's day (a Sunday), YYYY-MM-DD"
    )
    digest.add_argument("--channel", default="C0EWDIGEST", help='digest channel ID ("" = email the admin)')
    summary = sub.add_parser("summary", help="replay the watcher through a month and print its summary")
    summary.add_argument("--month", required=True, type=_month, help="the month to report on, YYYY-MM")
    summary.add_argument("--to", default="board@acme.example", help="recipients, comma-separated")
    for report in (digest, summary):
        report.add_argument("--sheet", default=str(EXAMPLE / "registry.csv"), help="registry (.csv or .xlsx)")
        report.add_argument("--rules", default=str(EXAMPLE / "rules.txt"), help="rules doc (rules.txt)")
        report.add_argument("--voice", default=str(EXAMPLE / "voice.txt"), help="voice doc (voice.txt)")
        report.add_argument("--acks", help="CSV date,item_id,action,value of clicks to replay")
        report.add_argument("--start", type=_iso_date, help="first replayed tick (default: 28 days before)")
        report.add_argument(
            "--timezone", default="Europe/London", help="IANA timezone (default Europe/London)"
        )
        report.add_argument(
            "--holidays", default="GB-ENG", help="holiday country and region (default GB-ENG)"
        )
        report.add_argument("--quiet-hours", default="19:00-08:00", help="quiet window (default 19:00-08:00)")
        report.add_argument("--admin", default="ops@acme.example", help="admin (Slack user ID or email)")
        report.add_argument("--date-order", choices=DATE_ORDERS, help="how to read numeric dates")

    serve = sub.add_parser("serve", help="try the whole product in your browser: Slack, sheet, clock, outbox")
    serve.add_argument(
        "--example", default=str(EXAMPLE), help="folder with registry.csv, rules.txt, voice.txt"
    )
    serve.add_argument(
        "--date", type=_iso_date, default=date(2026, 11, 23), help="first day (its 08:00 tick runs)"
    )
    serve.add_argument("--timezone", default="Europe/London")
    serve.add_argument("--holidays", default="GB-ENG")
    serve.add_argument("--admin", default="ops@acme.example")
    serve.add_argument("--port", type=int, default=8765, help="local port (default 8765; 0: any free port)")
    serve.add_argument(
        "--no-slack", action="store_true", help="no Slack bot token: every alert goes by email"
    )

    from ew_local.extract import add_parser as add_extract

    add_extract(sub, DATE_ORDERS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from ew_local.serve import run_serve

        return run_serve(args, sys.stdout)
    if args.command == "demo":
        from ew_local.demo import run_demo

        return run_demo(args, sys.stdout)
    if args.command in ("digest", "summary"):
        from ew_local.report import run_digest_command, run_summary_command

        run = run_digest_command if args.command == "digest" else run_summary_command
        return run(args, sys.stdout, sys.stderr)
    if args.command == "extract":
        from ew_local.extract import run_extract

        return run_extract(args, sys.stdout)
    if args.command == "check":
        from ew_local.check import run_check

        return run_check(args, sys.stdout)
    from ew_local.simulate import run_simulate

    return run_simulate(args, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
