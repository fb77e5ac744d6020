"""`ew simulate`: replay one tick per day at 08:00 local and print what would be sent."""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from ew.chain import ACK_ONLY, ACTIONS, RENEW, SNOOZE, Ack, Ping, current_item
from ew.daily import channel_for, plan_tick
from ew.items import Item
from ew.message import message_values
from ew.rules import Rules
from ew.settings import Settings
from ew.voice import Voice, parse_voice
from ew_local.docs import load_docs
from opskit.business_time import parse_quiet_hours, plan_delivery
from opskit.dates import parse_date
from opskit.problems import Problem

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
    text: str

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
    """In-memory chain state and the pure daily path (the same functions the handlers call)."""

    def __init__(self, items: list[Item], rules: Rules, voice: Voice, settings: Settings):
        self.items = {i.item_id: i for i in items}
        self.rules, self.voice, self.settings = rules, voice, settings
        self.calendar = settings.calendar(rules.closed)
        self.tz = ZoneInfo(settings.timezone)
        self.pings: list[Ping] = []
        self.acks: list[Ack] = []

    def tick(self, day: date) -> list[Delivery]:
        now = datetime.combine(day, TICK_TIME, self.tz)
        plan = plan_tick(self.items.values(), self.rules, self.pings, self.acks, day, self.settings.admin)
        archived = set(plan.archive)
        self.pings = [p for p in self.pings if p not in archived]
        deliveries = []
        for item, move in plan.moves:
            delivery = plan_delivery(now, self.calendar, deadline=move.anchor)
            self.pings.append(
                Ping(
                    item.item_id,
                    move.cycle_expiry,
                    move.chain_index,
                    move.move,
                    delivery.send_at.date(),
                    move.recipient,
                )
            )
            deliveries.append(
                Delivery(
                    day,
                    item.item_id,
                    move.move,
                    move.recipient,
                    channel_for(move.recipient),
                    delivery.send_at,
                    delivery.deferred,
                    delivery.reason,
                    self.voice.render(move.move, message_values(item, move)),
                )
            )
        return deliveries

    def apply(self, ack: ScriptedAck) -> None:
        listed = self.items.get(ack.item_id)
        if listed is None:
            raise SimulationError(f'acks line {ack.line}: no item "{ack.item_id}" in the sheet')
        item = current_item(listed, [a for a in self.acks if a.item_id == ack.item_id])
        at = datetime.combine(ack.day, time(12, 0), self.tz)
        self.acks.append(
            Ack(
                item.item_id,
                item.expiry_date,
                ack.action,
                at,
                by=item.owner,
                snooze_until=ack.value if ack.action == SNOOZE else None,
                new_expiry=ack.value if ack.action == RENEW else None,
            )
        )


def run_simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        sim, scripted, skipped = _prepare(args)
    except SimulationError as exc:
        print(exc, file=err)
        return 2
    for problem in skipped:
        print(f"skipped: {problem}", file=err)
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


def _prepare(args: argparse.Namespace) -> tuple[Simulation, list[ScriptedAck], list[Problem]]:
    """The simulation, the scripted clicks, and the sheet rows skipped as bad (reported, not fatal)."""
    docs = load_docs(args.sheet, args.rules, args.voice, args.date_order)
    row_problems = docs.registry.problems if docs.registry else []
    fatal = [p for p in docs.problems if p not in row_problems]
    if fatal or docs.registry is None or docs.rules is None:
        raise SimulationError("\n".join(str(p) for p in fatal))
    try:
        settings = Settings(
            timezone=args.timezone,
            holidays=args.holidays,
            quiet_hours=parse_quiet_hours(args.quiet_hours),
            admin=args.admin,
            date_order=args.date_order,
        )
        settings.calendar(docs.rules.closed)
    except ValueError as exc:
        raise SimulationError(str(exc)) from None
    scripted = read_acks(args.acks) if args.acks else []
    sim = Simulation(docs.registry.items, docs.rules, docs.voice or parse_voice(""), settings)
    return sim, scripted, row_problems


def _print_day(day: date, deliveries: list[Delivery], out: TextIO) -> None:
    print(f"{day.isoformat()} {day:%a}", file=out)
    if not deliveries:
        print("  nothing to send", file=out)
    for d in deliveries:
        when = d.send_at.strftime("%a %d %b %H:%M %Z")
        note = f" ({'deferred: ' if d.deferred else ''}{d.reason})" if d.reason else ""
        print(f"  {d.item_id:<10} {d.move:<12} -> {d.recipient} by {d.channel}, {when}{note}", file=out)
        first_line = d.text.strip().splitlines()[0] if d.text.strip() else ""
        print(f"      {first_line}", file=out)
