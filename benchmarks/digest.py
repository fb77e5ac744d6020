"""How long do the weekly digest and the monthly summary take over a big registry and a long history,
and how large is what they send? (DESIGN.md §11's spirit for the reports: both read everything with
paged Scans, so their own work grows with the history, never a request per item.)

    uv run python benchmarks/digest.py                       # 10,000 and 100,000 items (about a minute)
    uv run python benchmarks/digest.py --sizes 1000 --runs 1  # a quick look

For each size: a registry CSV (expiries spread over two years, Slack and email owners, ~1% retired),
four pings a year per item (open and archived rows) and one answer per item, as DynamoDB returns the
rows (attribute-value dicts). Not timed. Timed, the handler's own work after the Scan pages arrived:
parsing registry.csv, turning the rows into pings and answers (`ew.activity`, `ew.store.ack_from_row`),
the week's figures and both digest messages (`ew.digest`), the month's figures and the summary email
(`ew.summary`). Reported: min / median wall and CPU time over --runs, the tracemalloc peak of one
more run, the Scan pages at 1 MB each (what the requests grow with), and the sizes sent (Slack blocks
and characters, email characters), which must stay inside Slack's limits however long the sheet.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "shared")]

from ew.activity import _ping  # noqa: E402  (the reader's own row decoding)
from ew.digest import MAX_BLOCKS, MAX_SECTION_TEXT, email_digest, slack_digest, week_figures  # noqa: E402
from ew.items import load_registry  # noqa: E402
from ew.store import ack_from_row  # noqa: E402
from ew.summary import month_figures, plain_paragraph, summary_email  # noqa: E402
from ew.voice import Voice  # noqa: E402
from opskit.bulk_reads import bulk_load  # noqa: E402

TZ = "Europe/London"
SUNDAY = date(2026, 11, 29)
MONTH = date(2026, 11, 1)
PAGE_BYTES = 1024 * 1024
MOVES = ("first_alert", "reminder", "reminder", "escalate")
ACTIONS = ("renew", "snooze", "ack_only")


def generate(size: int, seed: int = 7) -> tuple[bytes, list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["item_id", "item", "category", "expiry_date", "owner", "owner_email", "status"])
    pings: list[dict[str, Any]] = []
    acks: list[dict[str, Any]] = []
    for n in range(size):
        item_id = f"IT-{n:06d}"
        expiry = SUNDAY + timedelta(days=rng.randint(-60, 660))
        owner = f"U{n:09d}" if n % 3 else f"owner{n}@example.com"
        status = "retired" if n % 100 == 0 else "active"
        writer.writerow(
            [item_id, f"Contract number {n} with a supplier", "contract", expiry, owner, "", status]
        )
        for index, move in enumerate(MOVES):
            sent = expiry - timedelta(days=60 - 14 * index)
            pings.append(
                {
                    "item_id": {"S": item_id},
                    "cycle_expiry": {"S": expiry.isoformat()},
                    "chain_index": {"N": str(index)},
                    "move": {"S": move},
                    "ping_date": {"S": sent.isoformat()},
                    "dispatched_via": {"S": "slack" if n % 3 else "email"},
                    "status": {"S": "sent"},
                }
            )
        at = datetime.combine(expiry - timedelta(days=rng.randint(0, 50)), datetime.min.time(), UTC)
        action = ACTIONS[n % 3]
        ack: dict[str, Any] = {
            "item_id": {"S": item_id},
            "ack_date": {"S": at.isoformat(timespec="microseconds")},
            "action": {"S": action},
            "cycle_expiry": {"S": expiry.isoformat()},
            "by_user": {"S": owner},
        }
        if action == "snooze":
            ack["snooze_until"] = {"S": (at.date() + timedelta(days=7)).isoformat()}
        if action == "renew":
            ack["new_expiry"] = {"S": (expiry + timedelta(days=365)).isoformat()}
        acks.append(ack)
    return out.getvalue().encode(), pings, acks


def work(registry: bytes, ping_rows: list[dict[str, Any]], ack_rows: list[dict[str, Any]]) -> dict[str, int]:
    """What the digest and the summary handlers compute once the S3 object and Scan pages are in
    (the collector kept off the load, as `ew.weekly_digest.build_digest` keeps it)."""
    with bulk_load() as loaded:
        items = load_registry(registry, "registry.csv").items
        pings = sorted((_ping(r) for r in ping_rows), key=lambda p: (p.sent_on, p.item_id, p.cycle_expiry))
        acks = sorted((ack_from_row(r) for r in ack_rows), key=lambda a: (a.item_id, a.at))
        loaded()
        until = datetime(2026, 11, 29, 18, tzinfo=UTC)
        week = week_figures(items, pings, acks, SUNDAY, TZ, [], until=until)
        month = month_figures(items, pings, acks, MONTH, TZ)
    text, blocks = slack_digest(week, Voice(), TZ)
    mail = email_digest(week, Voice(), TZ)
    summary = summary_email(month, plain_paragraph(month), written_by_model=False)
    return {
        "slack_blocks": len(blocks),
        "slack_longest_section": max(len(b["text"]["text"]) for b in blocks if b["type"] == "section"),
        "slack_text_chars": len(text),
        "digest_email_chars": len(mail.text),
        "summary_email_chars": len(summary.text),
        "upcoming": len(week.upcoming),
        "overdue": len(week.overdue),
    }


def timed(runs: int, call: Callable[[], dict[str, int]]) -> tuple[list[float], list[float], dict[str, int]]:
    walls, cpus, sizes = [], [], {}
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        sizes = call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="registry rows, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, median of {args.runs} runs")
    for size in (int(s) for s in args.sizes.split(",")):
        registry, ping_rows, ack_rows = generate(size)
        scanned = len(json.dumps(ping_rows)) + len(json.dumps(ack_rows))
        walls, cpus, sizes = timed(args.runs, partial(work, registry, ping_rows, ack_rows))
        tracemalloc.start()
        work(registry, ping_rows, ack_rows)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert sizes["slack_blocks"] <= MAX_BLOCKS and sizes["slack_longest_section"] <= MAX_SECTION_TEXT
        print(
            f"{size:>8,} items, {len(ping_rows):>9,} pings, {len(ack_rows):>8,} answers: "
            f"wall {min(walls):.2f} / {statistics.median(walls):.2f} s, "
            f"CPU {min(cpus):.2f} / {statistics.median(cpus):.2f} s, heap peak {peak / 2**20:,.0f} MB, "
            f"~{scanned // PAGE_BYTES + 3} Scan pages"
        )
        print(f"{'':>10}sent: {json.dumps(sizes)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
