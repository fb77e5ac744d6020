"""`ew simulate`: replay one tick per day at 08:00 local and print what would be sent.

It drives the real daily-tick and dispatch handlers on the local cloud (in-process AWS and a local
Slack), so what it prints is what the deployed watcher would do, deferrals included."""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from ew.answers import act
from ew.chain import ACK_ONLY, ACTIONS, RENEW, PingRef, current_item
from ew.dispatching import SCHEDULED, SENT
from ew.items import Item
from ew.runtime import settings_from
from ew_local.cloud import LocalCloud
from ew_local.docs import LocalDocs, load_docs
from opskit.config import ConfigError
from opskit.dates import parse_date

TICK_TIME = time(8, 0)


class SimulationError(ValueError):
    """A problem with the simulation's own inputs (flags, acks file), said in plain words."""


@dataclass(frozen=True)
class ScriptedAck:
    day: date
    item_id: str
    action: str
    value: date | None
    line: int


@dataclass(frozen=True)
class Delivery:
    day: date
    item_id: str
    move: str
    recipient: str
    channel: str
    send_at: datetime
    deferred: bool
    reason: str | None  # why it is deferred, or why it goes out in quiet time anyway

    def as_json(self) -> str:
        return json.dumps(
            {
                "date": self.day.isoformat(),
                "item_id": self.item_id,
                "move": self.move,
                "recipient": self.recipient,
                "channel": self.channel,
                "send_at": self.send_at.isoformat(),
            }
        )


def read_acks(path: str) -> list[ScriptedAck]:
    name = Path(path).name
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SimulationError(f"cannot open {path}: {exc.strerror or exc}") from None
    reader = csv.DictReader(text.splitlines())
    expected = ["date", "item_id", "action", "value"]
    if [h.strip().lower() for h in reader.fieldnames or []] != expected:
        raise SimulationError(f"{name}: line 1: the header must be date,item_id,action,value")
    acks, problems = [], []
    for line, row in enumerate(reader, start=2):
        where = f"{name}: line {line}"
        action = (row.get("action") or "").strip().lower()
        value = (row.get("value") or "").strip()
        try:
            day = date.fromisoformat((row.get("date") or "").strip())
        except ValueError:
            problems.append(f'{where}: date "{row.get("date")}" is not like 2026-11-24')
            continue
        if action not in ACTIONS:
            problems.append(f'{where}: action "{action}" must be one of {", ".join(ACTIONS)}')
            continue
        parsed: date | None = None
        if action == ACK_ONLY and value:
            problems.append(f"{where}: ack_only takes no value")
            continue
        if action != ACK_ONLY:
            try:
                parsed = parse_date(value)
            except ValueError as exc:
                what = "the new expiry date" if action == RENEW else "the snooze-until date"
                problems.append(f"{where}: {action} needs {what}: {exc}")
                continue
        acks.append(ScriptedAck(day, (row.get("item_id") or "").strip(), action, parsed, line))
    if problems:
        raise SimulationError("\n".join(problems))
    return acks


class Simulation:
    """Drives the real daily-tick and dispatch handlers on the local cloud, one tick per day."""

    def __init__(self, cloud: LocalCloud, items: list[Item], timezone: str):
        self.cloud = cloud
        self.items = {i.item_id: i for i in items}
        self.tz = ZoneInfo(timezone)

    def tick(self, day: date) -> list[Delivery]:
        now = datetime.combine(day, TICK_TIME, self.tz)
        self.cloud.fire_schedules(until=now)  # deferrals due by this morning go out first
        _, outcomes = self.cloud.tick(now)
        return [
            Delivery(
                day,
                o["item_id"],
                o["move"],
                o["recipient"],
                o["channel"],
                datetime.fromisoformat(o["send_at"]).astimezone(self.tz),
                o["status"] == SCHEDULED,
                o["reason"],
            )
            for o in outcomes
            if o["status"] in (SENT, SCHEDULED)
        ]

    def apply(self, ack: ScriptedAck) -> None:
        listed = self.items.get(ack.item_id)
        if listed is None:
            raise SimulationError(f'acks line {ack.line}: no item "{ack.item_id}" in the sheet')
        _, acks = self.cloud.store.load()
        item = current_item(listed, [a for a in acks if a.item_id == ack.item_id])
        # The click answers the latest ping of the item's current chain, as the newest card would.
        pings = [r.ping for r in self.cloud.store.chain_pings(item.item_id)]
        index = max((p.chain_index for p in pings if p.cycle_expiry == item.expiry_date), default=0)
        at = datetime.combine(ack.day, time(12, 0), self.tz)
        # The same code a Slack or email click runs (ack, audit, archive, sheet write-back), at noon.
        deps = replace(self.cloud.ack_handler_module.deps(), clock=lambda: at)
        act(deps, PingRef(item.item_id, item.expiry_date, index), ack.action, item.owner, ack.value)
        self.cloud.run_tasks()


def run_simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        docs, settings, scripted = _prepare(args)
    except SimulationError as exc:
        print(exc, file=err)
        return 2
    assert docs.registry is not None
    for problem in docs.registry.problems:
        print(f"skipped: {problem}", file=err)
    with LocalCloud(settings) as cloud:
        assert docs.registry_csv is not None
        cloud.mirror(
            docs.registry_csv, *(Path(p).read_bytes() if p else None for p in (args.rules, args.voice))
        )
        sim = Simulation(cloud, docs.registry.items, args.timezone)
        return _replay(args, sim, scripted, out, err)


def _replay(
    args: argparse.Namespace, sim: Simulation, scripted: list[ScriptedAck], out: TextIO, err: TextIO
) -> int:
    day = args.start
    for _ in range(args.days):
        deliveries = sim.tick(day)
        if args.json:
            for d in deliveries:
                print(d.as_json(), file=out)
        else:
            _print_day(day, deliveries, out)
        for ack in (a for a in scripted if a.day == day):
            try:
                sim.apply(ack)
            except SimulationError as exc:
                print(exc, file=err)
                return 2
            if not args.json:
                value = f" {ack.value.isoformat()}" if ack.value else ""
                print(f"  after the tick: {ack.item_id} {ack.action}{value}", file=out)
        day += timedelta(days=1)
    return 0


def _prepare(args: argparse.Namespace) -> tuple[LocalDocs, dict[str, str], list[ScriptedAck]]:
    """The documents, the settings for Parameter Store, and the scripted clicks. Bad sheet rows are
    not fatal (the tick skips and reports them); anything else that is wrong stops the run."""
    docs = load_docs(args.sheet, args.rules, args.voice, args.date_order)
    row_problems = docs.registry.problems if docs.registry else []
    fatal = [p for p in docs.problems if p not in row_problems]
    if fatal or docs.registry is None or docs.rules is None:
        raise SimulationError("\n".join(str(p) for p in fatal))
    settings = {
        "timezone": args.timezone,
        "quiet_hours": args.quiet_hours,
        "holidays": args.holidays,
        "admin": args.admin,
        "date_order": args.date_order,
    }
    settings = {name: value for name, value in settings.items() if value}
    try:
        settings_from(settings).calendar(docs.rules.closed)
    except (ValueError, ConfigError) as exc:
        raise SimulationError(str(exc).split(": ", 1)[1]) from None
    scripted = read_acks(args.acks) if args.acks else []
    return docs, settings, scripted


def _print_day(day: date, deliveries: list[Delivery], out: TextIO) -> None:
    print(f"{day.isoformat()} {day:%a}", file=out)
    if not deliveries:
        print("  nothing to send", file=out)
    for d in deliveries:
        when = d.send_at.strftime("%a %d %b %H:%M %Z")
        note = f" ({'deferred: ' if d.deferred else ''}{d.reason})" if d.reason else ""
        print(f"  {d.item_id:<10} {d.move:<12} -> {d.recipient} by {d.channel}, {when}{note}", file=out)
