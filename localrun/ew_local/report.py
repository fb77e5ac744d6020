"""`ew digest` and `ew summary`: what the weekly digest and the monthly summary would say.

The local runner keeps no state between commands, so each one starts a fresh local cloud, replays the
watcher day by day up to the report (the same ticks, deliveries and scripted clicks as `ew simulate`),
then runs the real digest or summary handler and prints what it sent. The summary has no Bedrock here:
it goes out as on AWS when Bedrock fails, with the plain paragraph.
"""

from __future__ import annotations

import argparse
import email
import re
from datetime import date, datetime, time, timedelta
from email import policy
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from botocore.exceptions import EndpointConnectionError

from ew import runtime
from ew_local.cloud import PREFIX, LambdaContext, LocalCloud, keep_stdout, load_handler
from ew_local.fake_slack import render_card
from ew_local.simulate import ScriptedAck, Simulation, SimulationError, _prepare

DIGEST_CHANNEL = "C0EWDIGEST"  # the local Slack stand-in accepts any channel ID
DIGEST_TIME = time(18, 0)  # template.yaml: cron(0 18 ? * SUN *)
SUMMARY_TIME = time(9, 0)  # template.yaml: cron(0 9 ? * 2#1 *)
REPLAY_DAYS = 28  # how far back the replay starts by default


class _NoBedrock:
    """Bedrock is not available locally: the summary falls back as it does when Bedrock is down."""

    def converse(self, **_: Any) -> dict[str, Any]:
        raise EndpointConnectionError(endpoint_url="bedrock-runtime (not available in the local runner)")


def run_digest_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    day: date = args.date
    start = args.start or day - timedelta(days=REPLAY_DAYS)
    return _run(args, start, day, out, err, lambda cloud, tz: show_digest(cloud, day, tz, out))


def run_summary_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    month: date = args.month
    end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    start = args.start or month - timedelta(days=REPLAY_DAYS)
    return _run(args, start, end, out, err, lambda cloud, tz: show_summary(cloud, month, tz, out))


def _run(args: argparse.Namespace, start: date, end: date, out: TextIO, err: TextIO, report: Any) -> int:
    if start > end:
        print(f"--start {start.isoformat()} is after the report's last day {end.isoformat()}", file=err)
        return 2
    try:
        docs, settings, scripted = _prepare(args)
    except SimulationError as exc:
        print(exc, file=err)
        return 2
    assert docs.registry is not None
    settings = {
        **settings,
        "digest_channel": getattr(args, "channel", None) or "",
        "summary_recipients": getattr(args, "to", None) or "",
    }
    settings = {name: value for name, value in settings.items() if value}
    with LocalCloud(settings) as cloud:
        assert docs.registry_csv is not None
        cloud.mirror(
            docs.registry_csv, *(Path(p).read_bytes() if p else None for p in (args.rules, args.voice))
        )
        sim = Simulation(cloud, docs.registry.items, args.timezone)
        try:
            replay(sim, start, end, scripted)
        except SimulationError as exc:
            print(exc, file=err)
            return 2
        ticks = (end - start).days + 1
        print(f"(replayed {ticks} daily ticks, {start.isoformat()} to {end.isoformat()})", file=out)
        report(cloud, ZoneInfo(args.timezone))
    return 0


def replay(sim: Simulation, start: date, end: date, scripted: list[ScriptedAck]) -> None:
    """One tick a day at 08:00, then that day's scripted clicks at noon, as `ew simulate` runs them."""
    day = start
    while day <= end:
        sim.tick(day)
        for ack in (a for a in scripted if a.day == day):
            sim.apply(ack)
        day += timedelta(days=1)


def show_digest(cloud: LocalCloud, day: date, tz: ZoneInfo, out: TextIO) -> dict[str, Any]:
    """Run the digest handler as its schedule would on `day` at 18:00 and print what it sent."""
    at = datetime.combine(day, DIGEST_TIME, tz)
    posted, emailed = len(cloud.slack.messages()), len(cloud.sent_emails())
    result: dict[str, Any] = keep_stdout(load_handler("digest"))(
        {"scheduled_time": at.isoformat()}, LambdaContext(f"{PREFIX}-digest")
    )
    for params in cloud.slack.messages()[posted:]:
        print(f"\n--- Slack, channel {params.get('channel')} ---", file=out)
        print(render_digest(params), file=out)
    _print_emails(cloud, emailed, out)
    return result


def show_summary(cloud: LocalCloud, month: date, tz: ZoneInfo, out: TextIO) -> dict[str, Any]:
    """Run the summary handler as its schedule would (the first Monday after `month`, 09:00), without
    Bedrock, and print the email."""
    first = (month + timedelta(days=32)).replace(day=1)
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    at = datetime.combine(monday, SUMMARY_TIME, tz)
    emailed = len(cloud.sent_emails())
    runtime.use_client("bedrock-runtime", _NoBedrock())
    try:
        result: dict[str, Any] = keep_stdout(load_handler("summary"))(
            {"scheduled_time": at.isoformat()}, LambdaContext(f"{PREFIX}-summary", 512)
        )
    finally:
        runtime.use_client("bedrock-runtime", None)
    print(f"\n--- summary, {at:%a %d %b %Y %H:%M %Z}: no Bedrock in the local runner, so the plain", file=out)
    print("    paragraph goes out, as on AWS when Bedrock fails ---", file=out)
    _print_emails(cloud, emailed, out)
    return result


def render_digest(params: dict[str, Any]) -> str:
    """The digest as Slack shows it, one listed item a line (unwrapped: it is read as a list)."""
    lines: list[str] = []
    for block in params.get("blocks") or []:
        if block["type"] == "header":
            title = block["text"]["text"]
            lines += [title, "=" * len(title)]
        elif block["type"] == "section":
            lines.append(_readable(block["text"]["text"]))
        elif block["type"] == "context":
            lines.append("  " + " | ".join(_readable(e["text"]) for e in block["elements"]))
        elif block["type"] == "divider":
            lines.append("-" * 40)
        else:
            lines.append(render_card({"blocks": [block]}))
    return "\n".join(lines)


def _readable(mrkdwn: str) -> str:
    """Mentions as @U…, Slack's escapes undone."""
    text = re.sub(r"<@([A-Z0-9]+)>", r"@\1", mrkdwn)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _print_emails(cloud: LocalCloud, seen: int, out: TextIO) -> None:
    for sent in cloud.sent_emails()[seen:]:
        message = email.message_from_string(sent["raw_data"], policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        print(f"\n--- Email to {message['To']} ---", file=out)
        print(f"Subject: {message['Subject'].strip()}", file=out)
        print(body.get_content().replace("\r\n", "\n").rstrip() if body else "", file=out)
