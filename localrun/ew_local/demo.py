"""`ew demo`: the main job on the bundled example, end to end through the real handlers.

Mirror the sheet and docs into the in-process AWS stand-in, run daily-tick, route its events to
dispatch, and show every Slack card and email as the owner would see it, then the pings recorded.
"""

from __future__ import annotations

import argparse
import email
from datetime import date, datetime, time, timedelta
from email import policy
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from ew_local.cloud import LocalCloud
from ew_local.docs import load_docs
from ew_local.fake_slack import render_card

# Who the example's email owners are in Slack: users.lookupByEmail finds them, so they get DMs.
EXAMPLE_SLACK_USERS = {"ops@acme.example": "U04OPS0001"}


def _rule(out: TextIO, title: str) -> None:
    print(f"\n== {title} ==", file=out)


def _show_deliveries(
    cloud: LocalCloud, outcomes: list[dict[str, Any]], seen: dict[str, int], tz: ZoneInfo, out: TextIO
) -> None:
    """Print what reached people since the last call: new Slack DMs, then new emails."""
    for params in cloud.slack.messages()[seen["slack"] :]:
        print(f"\n--- Slack DM to {params.get('channel')} ---", file=out)
        print(render_card(params), file=out)
    for sent in cloud.sent_emails()[seen["email"] :]:
        message = email.message_from_string(sent["raw_data"], policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        print(f"\n--- Email to {message['To']} ---", file=out)
        print(f"Subject: {message['Subject'].strip()}", file=out)  # a folded header unfolds with a space
        print(body.get_content().rstrip() if body else "", file=out)
    seen["slack"] = len(cloud.slack.messages())
    seen["email"] = len(cloud.sent_emails())
    for outcome in outcomes:
        if outcome["status"] == "scheduled":
            when = datetime.fromisoformat(outcome["send_at"]).astimezone(tz)
            print(
                f"\n--- {outcome['item_id']} {outcome['move']} for {outcome['recipient']} waits until "
                f"{when:%a %d %b %H:%M %Z} ({outcome['reason']}) ---",
                file=out,
            )


def _show_pings(cloud: LocalCloud, out: TextIO) -> None:
    rows = []
    for item_id in sorted({p.item_id for p in cloud.store.load()[0]}):
        for record in cloud.store.chain_pings(item_id):
            p = record.ping
            rows.append((p.item_id, str(p.chain_index), p.move, p.recipient, record.channel,
                         p.sent_on.isoformat(), record.status))  # fmt: skip
    header = ("item_id", "#", "move", "recipient", "via", "ping_date", "status")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)), file=out)


def run_demo(args: argparse.Namespace, out: TextIO) -> int:
    example = Path(args.example)
    docs = load_docs(str(example / "registry.csv"), str(example / "rules.txt"), str(example / "voice.txt"))
    if docs.registry is None or docs.rules is None or docs.voice is None:
        for problem in docs.problems:
            print(problem, file=out)
        return 1
    tz = ZoneInfo(args.timezone)
    day: date = args.date
    settings = {"timezone": args.timezone, "holidays": args.holidays, "admin": args.admin}

    with LocalCloud(settings, slack_users=EXAMPLE_SLACK_USERS) as cloud:
        _rule(out, f"1. Mirror {example}/ into the registry and rules buckets (what drive-sync does)")
        cloud.mirror(
            (example / "registry.csv").read_bytes(),
            (example / "rules.txt").read_bytes(),
            (example / "voice.txt").read_bytes(),
        )
        active = sum(1 for i in docs.registry.items if i.status == "active")
        print(f"registry.csv: {active} active items; rules.txt and voice.txt parse cleanly.", file=out)
        for problem in docs.problems:
            print(f"skipped: {problem}", file=out)

        seen = {"slack": 0, "email": 0}
        now = datetime.combine(day, time(8, 0), tz)
        _rule(out, f"2. daily-tick at {now:%a %d %b %Y %H:%M %Z}, its events routed to dispatch")
        report, outcomes = cloud.tick(now)
        moves = ", ".join(f"{count} {move}" for move, count in report["moves"].items()) or "none"
        skipped = len(report["skipped"])
        print(f"tick: {report['items']} items, moves: {moves}; {skipped} rows skipped", file=out)
        _show_deliveries(cloud, outcomes, seen, tz, out)

        _rule(out, "3. The same tick again (EventBridge and Scheduler deliver at least once)")
        _, again = cloud.tick(now)
        print(f"{sum(1 for o in again if o['status'] != 'duplicate')} new messages.", file=out)

        saturday = day + timedelta(days=(5 - day.weekday()) % 7)
        sat_now = datetime.combine(saturday, time(8, 0), tz)
        _rule(out, f"4. {sat_now:%A %d %b}: moves wait for the next business minute")
        _, outcomes = cloud.tick(sat_now)
        _show_deliveries(cloud, outcomes, seen, tz, out)
        if not outcomes:
            print("nothing to send.", file=out)
        monday = saturday + timedelta(days=2)
        fired = cloud.fire_schedules(datetime.combine(monday, time(8, 0), tz))
        if fired:
            print(f"\n{monday:%A %d %b} 08:00: the one-off schedules fire into dispatch:", file=out)
            _show_deliveries(cloud, fired, seen, tz, out)

        _rule(out, "5. Pings recorded in ew-pings")
        _show_pings(cloud, out)
    return 0
