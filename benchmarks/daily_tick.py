"""How long does the daily tick take over a big registry? (DESIGN.md §11: 100,000 rows well inside
the 60 s Lambda timeout; DynamoDB requests grow with pages, not with rows.)

    make bench                                       # 1,000, 10,000 and 100,000 rows (slow: moto)
    make bench ARGS=--quick                          # 1,000 rows only
    uv run python benchmarks/daily_tick.py --sizes 20000 --runs 5 --profile --json out.json

For each size, in-process AWS (moto, fake credentials) is set up with a generated registry, rules and
chain state, as if the watcher had been running daily for a quarter. That setup is not timed. Then
`ew.daily_tick.run_tick` (what the daily-tick Lambda calls) runs `--runs` times on the same state: the
tick only reads state and emits events, and the generated state has no stale pings, so every run
archives nothing and sees the same input (checked: same AWS calls, same moves). Reported per size:

- wall time of `run_tick` on moto (time.perf_counter), min and median, and how much of it moto's
  in-process server took;
- wall time of `run_tick` with moto's recorded answers replayed: botocore builds, signs and parses
  every request and answer as against AWS, but no service answers (no moto, no network). This is
  the tick's own work, the figure to hold against the Lambda timeout (plus the round trips);
- the pure part: `load_registry` + `plan_tick` on the same bytes and rows, without AWS or botocore;
- peak Python memory (tracemalloc, in one extra replayed run: tracing slows everything down, so that
  run is not timed) and the RSS growth during the replayed runs (ru_maxrss after the run minus RSS
  before it, the high-water mark reset through /proc/self/clear_refs where Linux allows it);
- AWS API calls by service and operation (a `before-call` hook on each client: retries inside
  botocore are not counted again), the time spent in each, and the moves emitted.

See benchmarks/README.md for what the figures mean and the ones measured.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import gc
import io
import json
import os
import pstats
import random
import re
import resource
import statistics
import string
import sys
import textwrap
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

# Fake credentials before any client exists: whatever the shell holds, nothing can reach a real account.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
)

import boto3  # noqa: E402
from botocore.awsrequest import AWSResponse  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.core import botocore_stubber as moto_stubber  # noqa: E402
from moto.core import models as moto_models  # noqa: E402

from ew.chain import ACK_ONLY, ESCALATE, RENEW, SNOOZE, Ack, Chain, Ping, current_item, decide  # noqa: E402
from ew.daily_tick import REGISTRY_KEY, RULES_KEY, TickDeps, event_source, run_tick  # noqa: E402
from ew.items import Item, channel_for, load_registry  # noqa: E402
from ew.rules import Rules, parse_rules  # noqa: E402
from ew.settings import Settings  # noqa: E402
from ew.store import SCHEDULED, SENT, ChainStore, _ack_row, _ping_row  # noqa: E402
from ew.tick_plan import plan_tick  # noqa: E402
from ew_local.tables import create_tables, table_names  # noqa: E402

T = TypeVar("T")

DEFAULT_SIZES = (1_000, 10_000, 100_000)
TIMEZONE = "Europe/London"
TZ = ZoneInfo(TIMEZONE)
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=TZ)  # a Monday, at the schedule's 08:00
TODAY = NOW.date()
ADMIN = "ops@acme.example"
RUNNING_FOR = timedelta(days=90)  # the watcher went live a quarter ago: chains start no earlier
BAD_ROW_SHARE = 0.005
_NAMES = table_names()  # as template.yaml names them
TABLES = {
    "pings": _NAMES["EW_PINGS_TABLE"],
    "ack": _NAMES["EW_ACK_TABLE"],
    "archive": _NAMES["EW_ARCHIVE_TABLE"],
    "audit": _NAMES["EW_AUDIT_TABLE"],
    "state": _NAMES["EW_STATE_TABLE"],
}
RULE = "ew-moves"
SOURCE = event_source("ew")  # the stack's EW_EVENT_SOURCE with the default Prefix
REGISTRY_BUCKET = "ew-registry-source-bench"
RULES_BUCKET = "ew-rules-source-bench"
MB = 1024 * 1024


def _tick_memory_mb() -> int:
    """DailyTickFunction's MemorySize, read from template.yaml so the verdict follows the template."""
    template = (Path(__file__).resolve().parents[1] / "template.yaml").read_text()
    block = template.split("DailyTickFunction:", 1)[1]
    return int(re.search(r"MemorySize:\s*(\d+)", block).group(1))  # type: ignore[union-attr]


TICK_MEMORY_MB = _tick_memory_mb()
FULL_VCPU_MB = 1769  # Lambda: CPU share grows with memory; one full vCPU at 1,769 MB

RULES_TEXT = """\
# Generated for the benchmark: a few categories, as a real rules doc has.
[default]
first alert: 60 days before
reminder: every 14 days
escalate: 7 days before
escalate to: ops@acme.example

[insurance]
first alert: 90 days before
reminder: every 7 days
escalate: 14 days before
escalate to: U04BOSS0001

[licence]
first alert: 75 days before
escalate: 21 days before

[certificate]
first alert: 21 days before
reminder: every 3 days
escalate: 5 days before

[domain]
first alert: 30 days before
reminder: every 7 days
escalate: 7 days before

[contract]
first alert: 120 days before
reminder: every 14 days
escalate: 30 days before
escalate to: legal@acme.example

closed: 2026-12-24, 2026-12-29, 2026-12-30, 2026-12-31
"""

# -- a realistic registry ---------------------------------------------------------------------------

COLUMNS = [
    "item_id",
    "item",
    "category",
    "expiry_date",
    "notice_date",
    "owner",
    "owner_email",
    "first_alert_days",
    "renewal_term",
    "renewal_link",
    "status",
    "last_renewed",
    "notes",
]
# (category as typed in the sheet, weight, item name templates, renewal terms)
CATEGORIES: list[tuple[str, int, tuple[str, ...], tuple[str, ...]]] = [
    (
        "insurance",
        12,
        (
            "Public liability insurance",
            "Cyber insurance",
            "Vehicle insurance (van {reg})",
            "Property insurance",
        ),
        ("1 year",),
    ),
    (
        "Licence",
        14,
        ("{vendor} licence ({n} seats)", "Premises licence", "Waste carrier licence"),
        ("1 year",),
    ),
    (
        "certificate",
        20,
        ("TLS certificate {host}.acme.example", "Code signing certificate"),
        ("90 days", "1 year"),
    ),
    ("domain", 10, ("Domain {host}.example", "Domain {host}.co.uk"), ("1 year", "2 years")),
    ("contract", 12, ("Support contract - {vendor}", "Office lease - {n} Harbour St"), ("1 year", "3 years")),
    ("software", 14, ("{vendor} subscription", "{vendor} enterprise plan"), ("monthly", "1 year")),
    ("", 13, ("Fire extinguisher service", "First aid certificate - {person}"), ("1 year", "3 years")),
    ("vehicle", 5, ("MOT van {reg}", "Road tax van {reg}"), ("1 year",)),
]
VENDORS = (
    "Atlassian",
    "Adobe",
    "Microsoft 365",
    "Slack",
    "Zoom",
    "GitHub",
    "Figma",
    "Okta",
    "Datadog",
    "Xero",
)
PEOPLE = ("Dana", "Li", "Sam Ortiz", "Priya", "Tom", "Aisha", "Marek", "Jo", "Chen", "Ruth")
NOTES = (
    "",
    "",
    "",
    "Broker: Keane & Co",
    "Landlord needs 3 months written notice",
    'Ask finance for the PO first, "urgent" if < 2 weeks',
    "Auto-renews unless cancelled; card ending 4242",
    "Contact: renewals@vendor.example, ref 88-2231",
)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# One broken cell per bad row, as people break them. "duplicate" makes two rows bad.
BAD_KINDS = (
    "date",
    "no_expiry",
    "owner",
    "no_owner",
    "notice",
    "first_alert",
    "status",
    "link",
    "duplicate",
)


def _token(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.ascii_uppercase + string.digits, k=n))


def _owners(rng: random.Random, size: int) -> list[tuple[str, str]]:
    """(owner, owner_email): about one owner per 20 rows, 60% Slack users, 40% email only."""
    owners = []
    for i in range(max(5, size // 20)):
        name = f"{rng.choice(PEOPLE).split()[0].lower()}{i}"
        if rng.random() < 0.6:
            email = f"{name}@acme.example" if rng.random() < 0.7 else ""
            owners.append((f"U0{_token(rng, 9)}", email))
        else:
            owners.append((f"{name}@acme.example", ""))
    return owners


def _written(d: date, rng: random.Random) -> str:
    """Most dates typed ISO, some as `1 Mar 2026` (both read without a configured date order)."""
    return d.isoformat() if rng.random() < 0.85 else f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def make_registry(size: int, seed: int = 1) -> bytes:
    """`size` data rows: expiries spread evenly over the two years around the tick date, ~12% with a
    notice date, ~5% with their own first-alert days, ~4% retired, ~0.5% with one broken cell."""
    rng = random.Random(seed)
    owners = _owners(rng, size)
    weights = [c[1] for c in CATEGORIES]
    rows: list[dict[str, str]] = []
    for i in range(size):
        category, _, names, terms = rng.choices(CATEGORIES, weights)[0]
        name = rng.choice(names).format(
            reg=f"VN{rng.randint(10, 29)} {_token(rng, 3)}",
            vendor=rng.choice(VENDORS),
            n=rng.randint(2, 400),
            host=_token(rng, 6).lower(),
            person=rng.choice(PEOPLE),
        )
        expiry = TODAY + timedelta(days=rng.randint(-365, 365))
        term = rng.choice(terms)
        owner, owner_email = rng.choice(owners)
        notice = expiry - timedelta(days=rng.choice((30, 60, 90))) if rng.random() < 0.12 else None
        rows.append(
            {
                "item_id": f"IT-{i + 1:06d}",
                "item": name,
                "category": category,
                "expiry_date": _written(expiry, rng),
                "notice_date": _written(notice, rng) if notice else "",
                "owner": owner,
                "owner_email": owner_email,
                "first_alert_days": str(rng.choice((30, 45, 90, 120))) if rng.random() < 0.05 else "",
                "renewal_term": term,
                "renewal_link": f"https://portal.example/renew/{i + 1}" if rng.random() < 0.5 else "",
                "status": "retired" if rng.random() < 0.04 else rng.choice(("active", "Active", "")),
                "last_renewed": "",
                "notes": rng.choice(NOTES),
            }
        )
        # last_renewed: one term before the expiry, where the term is whole years (most sheets say so)
        if term.endswith(("year", "years")):
            years = int(term.split()[0])
            try:
                rows[-1]["last_renewed"] = expiry.replace(year=expiry.year - years).isoformat()
            except ValueError:  # 29 Feb
                rows[-1]["last_renewed"] = (expiry - timedelta(days=365 * years)).isoformat()

    for index in rng.sample(range(size), max(1, round(size * BAD_ROW_SHARE))):
        row = rows[index]
        kind = rng.choice(BAD_KINDS)
        if kind == "date":
            row["expiry_date"] = rng.choice(("next spring", "31 Feb 2026", "2026-13-01"))
            row["status"] = "active"
        elif kind == "no_expiry":
            row["expiry_date"] = ""
            row["status"] = "active"
        elif kind == "owner":
            row["owner"] = "Dana from finance"
        elif kind == "no_owner":
            row["owner"] = ""
        elif kind == "notice":
            row["notice_date"] = "2030-01-01"
        elif kind == "first_alert":
            row["first_alert_days"] = "lots"
        elif kind == "status":
            row["status"] = "paused"
        elif kind == "link":
            row["renewal_link"] = "portal.example/renew"
        else:
            row["item_id"] = rows[(index + 1) % size]["item_id"]

    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


# -- chain state, as if the watcher had been running daily -----------------------------------------


@dataclass
class State:
    pings: list[Ping] = field(default_factory=list)
    acks: list[tuple[Ack, int | None]] = field(default_factory=list)  # with the chain index clicked
    archived: list[Ping] = field(default_factory=list)  # closed chains (the ack-handler archived them)
    renewed_rows: dict[str, date] = field(default_factory=dict)  # item_id -> new expiry in the sheet


def _delivery_day(day: date) -> date:
    """Dispatch defers a weekend ping to Monday (no holidays configured here)."""
    return day + timedelta(days=(7 - day.weekday()) % 7) if day.weekday() >= 5 else day


def _click(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, clock_time(rng.randint(9, 17), rng.randint(0, 59)), TZ).astimezone(UTC)


def simulate_chain(item: Item, rules: Rules, rng: random.Random, state: State) -> None:
    """Replay the tick from go-live (or the start of the item's first-alert window) to yesterday with
    the real `decide`, and let the owner click now and then: 5% acknowledge a first alert or reminder,
    2% snooze one, 10% acknowledge an escalation. The state is what the tick would have built, so
    today's run moves only the items whose cadence falls today."""
    policy = rules.for_category(item.category)
    if item.first_alert_days is not None:
        policy = replace(policy, first_alert_days=item.first_alert_days)
    go_live = TODAY - RUNNING_FOR
    day = max(item.anchor - timedelta(days=policy.first_alert_days), go_live)
    pings: list[Ping] = []
    acks: list[Ack] = []
    while day < TODAY:
        chain = Chain(tuple(pings), tuple(a for a in acks if a.at.astimezone(TZ).date() < day))
        move = decide(item, rules, chain, day, ADMIN)
        if move is not None:
            sent = _delivery_day(day)
            pings.append(
                Ping(item.item_id, move.cycle_expiry, move.chain_index, move.move, sent, move.recipient)
            )
            roll = rng.random()
            clicked = sent + timedelta(days=rng.randint(0, 2))
            owner_clicks = roll < (0.10 if move.move == ESCALATE else 0.07)
            if clicked < TODAY and owner_clicks:
                at = _click(clicked, rng)
                if move.move != ESCALATE and roll >= 0.05:
                    until = clicked + timedelta(days=rng.choice((7, 14, 30)))
                    acks.append(
                        Ack(item.item_id, item.expiry_date, SNOOZE, at, item.owner, snooze_until=until)
                    )
                else:
                    acks.append(Ack(item.item_id, item.expiry_date, ACK_ONLY, at, item.owner))
        day = _next_decision_day(day, item, policy.reminder_days, policy.escalate_days, pings, acks)
    indexes = {id(p): p.chain_index for p in pings}
    state.pings += pings
    for ack in acks:
        day_clicked = ack.at.astimezone(TZ).date()
        clicked_index = max((indexes[id(p)] for p in pings if p.sent_on <= day_clicked), default=None)
        state.acks.append((ack, clicked_index))


def _next_decision_day(
    day: date, item: Item, reminder: int, escalate: int, pings: list[Ping], acks: list[Ack]
) -> date:
    """The next day `decide` can answer differently: a reminder or escalation interval runs out, the
    item enters the escalation window, a snooze runs out, or a click becomes visible (the day after).
    Between those days nothing changes, so skipping them replays the daily tick exactly."""
    if not pings:
        return day + timedelta(days=1)
    candidates = [
        pings[-1].sent_on + timedelta(days=reminder),
        item.anchor - timedelta(days=escalate),
    ]
    escalations = [p for p in pings if p.move == ESCALATE]
    if escalations:
        candidates.append(escalations[-1].sent_on + timedelta(days=reminder))
    elif item.anchor - timedelta(days=escalate) <= day:
        candidates.append(day + timedelta(days=1))  # inside the window, not escalated yet: due now
    candidates += [a.snooze_until for a in acks if a.snooze_until]
    candidates += [a.at.astimezone(TZ).date() + timedelta(days=1) for a in acks]
    later = [c for c in candidates if c > day]
    return min(later, default=TODAY)


def simulate_state(items: list[Item], rules: Rules, seed: int = 2) -> State:
    """Chains for every active item already inside its first-alert window; plus renewals: ~2% of the
    items due in a year were renewed lately (renew ack on the old cycle, its pings in the archive),
    and a handful of those renewals have not reached the sheet yet (the tick trusts the ack)."""
    rng = random.Random(seed)
    state = State()
    for item in items:
        if item.status == "retired":
            continue
        days_left = (item.expiry_date - TODAY).days
        if days_left > 300 and rng.random() < 0.02 and item.renewal_term.endswith(("year", "years")):
            old = item.expiry_date.replace(year=item.expiry_date.year - 1, day=min(item.expiry_date.day, 28))
            clicked = TODAY - timedelta(days=rng.randint(1, 20))
            for index, move in enumerate(("first_alert", "reminder", "escalate")):
                sent = clicked - timedelta(days=3 * (3 - index))
                state.archived.append(Ping(item.item_id, old, index, move, sent, item.owner))
            renew = Ack(
                item.item_id, old, RENEW, _click(clicked, rng), item.owner, new_expiry=item.expiry_date
            )
            state.acks.append((renew, 2))
            if rng.random() < 0.05:
                state.renewed_rows[item.item_id] = old  # the sheet still shows the old expiry
            continue
        simulate_chain(item, rules, rng, state)
    return state


def stale_sheet(data: bytes, renewed_rows: dict[str, date]) -> bytes:
    """The registry as drive-sync last mirrored it: renewals made since still show the old expiry."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in reader:
        old = renewed_rows.get(row["item_id"])
        if old is not None:
            row.update(expiry_date=old.isoformat(), notice_date="", last_renewed="")
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


# -- moto ------------------------------------------------------------------------------------------


@dataclass
class Cloud:
    s3: Any
    events: Any
    dynamodb: Any
    setup_events: Any  # not the tick's client: calls made with it are not counted
    sqs: Any
    queue_url: str
    deps: TickDeps
    registry: bytes
    rules_text: str
    state: State
    problems: int
    setup_seconds: float


def _batches(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _write_rows(client: Any, table: str, rows: list[dict[str, Any]]) -> None:
    for batch in _batches(rows, 25):
        pending: list[dict[str, Any]] = [{"PutRequest": {"Item": row}} for row in batch]
        while pending:
            response = client.batch_write_item(RequestItems={table: pending})
            pending = (response.get("UnprocessedItems") or {}).get(table, [])


def _ping_rows(pings: Iterable[Ping]) -> list[dict[str, Any]]:
    rows = []
    for ping in pings:
        send_at = datetime.combine(ping.sent_on, clock_time(9, 0), TZ)
        status = SENT if send_at <= NOW else SCHEDULED  # weekend pings wait for Monday 09:00
        claimed = datetime.combine(ping.sent_on, clock_time(8, 1), TZ) if status == SENT else NOW
        rows.append(_ping_row(ping, send_at, channel_for(ping.recipient), status, claimed))
    return rows


def _new_queue(sqs: Any, events: Any, number: int) -> str:
    """A fresh queue as the rule's only target; returns its URL."""
    url: str = sqs.create_queue(QueueName=f"ew-moves-{number}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_targets(Rule=RULE, Targets=[{"Id": "dispatch", "Arn": arn}])
    return url


def build_cloud(size: int) -> Cloud:
    """Everything the tick reads, on moto (call inside `mock_aws`). Not timed by the benchmark."""
    started = time.perf_counter()
    full = make_registry(size)
    registry = load_registry(full, REGISTRY_KEY)
    rules = parse_rules(RULES_TEXT, RULES_KEY)
    state = simulate_state([current_item(i, []) for i in registry.items], rules)
    sheet = stale_sheet(full, state.renewed_rows)

    s3 = boto3.client("s3")
    events = boto3.client("events")
    dynamodb = boto3.client("dynamodb")
    sqs = boto3.client("sqs")
    create_tables(dynamodb)
    for bucket in (REGISTRY_BUCKET, RULES_BUCKET):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=REGISTRY_BUCKET, Key=REGISTRY_KEY, Body=sheet)
    s3.put_object(Bucket=RULES_BUCKET, Key=RULES_KEY, Body=RULES_TEXT.encode())
    # The template's rule targets dispatch; moto cannot invoke a Lambda target, so the same pattern
    # targets a queue (as the local runner does). Nobody drains it: dispatch is not measured here.
    setup_events = boto3.client("events")
    setup_events.put_rule(
        Name=RULE,
        EventPattern=json.dumps(
            {"source": [SOURCE], "detail-type": ["ew.first_alert", "ew.reminder", "ew.escalate"]}
        ),
    )
    queue_url = _new_queue(sqs, setup_events, 0)

    _write_rows(dynamodb, TABLES["pings"], _ping_rows(state.pings))
    _write_rows(
        dynamodb,
        TABLES["ack"],
        [
            _ack_row(ack, ack.at, index, None if ack.action != RENEW else ack.cycle_expiry)
            for ack, index in state.acks
        ],
    )
    archived = []
    for row in _ping_rows(state.archived):
        chain_key = f"{row['cycle_expiry']['S']}#{int(row['chain_index']['N']):04d}"
        archived.append({**row, "chain_key": {"S": chain_key}, "archived_at": row["claimed_at"]})
    _write_rows(dynamodb, TABLES["archive"], archived)

    store = ChainStore(dynamodb, TABLES["pings"], TABLES["ack"], TABLES["archive"])
    settings = Settings(timezone=TIMEZONE, admin=ADMIN)
    deps = TickDeps(s3, events, store, REGISTRY_BUCKET, RULES_BUCKET, settings, SOURCE)
    return Cloud(
        s3,
        events,
        dynamodb,
        setup_events,
        sqs,
        queue_url,
        deps,
        sheet,
        RULES_TEXT,
        state,
        len(load_registry(sheet, REGISTRY_KEY).problems),
        time.perf_counter() - started,
    )


Answer = tuple[int, dict[str, str], bytes]  # status, headers, body: what moto answered


class AwsMeter:
    """Counts and times the tick's AWS calls, and can take moto out of the picture.

    - Calls by "Service.Operation": a `before-call` hook on each client (one count per API call;
      botocore's own retries would not be counted again).
    - Time inside each call: `before-call` to `after-call` (building and signing the request, the
      answer, parsing it).
    - moto's share of that: its botocore stub (`BotocoreStubber.process_request`, which answers every
      request inside `mock_aws`) is timed, and its answers are recorded.
    - Replay: moto stands aside and a `before-send` handler hands back the answer it recorded for
      the same request, at once. botocore still builds, signs and parses everything exactly as
      it would against AWS; only the service is gone. A request never recorded is an error, never
      a fall-through."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.call_seconds: defaultdict[str, float] = defaultdict(float)
        self.moto_seconds: defaultdict[str, float] = defaultdict(float)
        self.answers: dict[tuple[str, str, bytes], Answer] = {}
        self._clients: list[Any] = []
        self._current = ""
        self._started = 0.0

    def attach(self, *clients: Any) -> None:
        for client in clients:
            client.meta.events.register("before-call.*.*", self._before)
            client.meta.events.register("after-call.*.*", self._after)
            self._clients.append(client)

    def reset(self) -> None:
        self.calls.clear()
        self.call_seconds.clear()
        self.moto_seconds.clear()

    def _before(self, model: Any, **_: Any) -> None:  # must return None: a value would answer the call
        self._current = f"{model.service_model.service_id}.{model.name}"
        self.calls[self._current] += 1
        self._started = time.perf_counter()

    def _after(self, **_: Any) -> None:
        self.call_seconds[self._current] += time.perf_counter() - self._started

    @staticmethod
    def _key(request: Any) -> tuple[str, str, bytes]:
        body = request.body
        if body is None:
            data = b""
        elif isinstance(body, str):
            data = body.encode("utf-8")
        elif isinstance(body, bytes | bytearray):
            data = bytes(body)
        else:
            raise TypeError(f"cannot key a streamed request body ({type(body).__name__})")
        return request.method, request.url, data

    @contextmanager
    def on_moto(self, record: bool) -> Iterator[None]:
        """Time moto's handling of each request (and record its answers) while inside `mock_aws`."""
        stubber = moto_models.botocore_stubber
        original = stubber.process_request

        def timed_request(request: Any) -> Any:
            started = time.perf_counter()
            try:
                answer = original(request)
            finally:
                self.moto_seconds[self._current] += time.perf_counter() - started
            if record and answer is not None:
                status, headers, body = answer
                data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
                self.answers[self._key(request)] = (status, dict(headers), data)
            return answer

        stubber.process_request = timed_request  # type: ignore[method-assign]
        try:
            yield
        finally:
            del stubber.process_request  # the class's method again

    @contextmanager
    def replaying(self) -> Iterator[None]:
        def answer(request: Any, **_: Any) -> AWSResponse:
            try:
                status, headers, body = self.answers[self._key(request)]
            except KeyError:
                raise RuntimeError(f"replay: no recorded answer for {request.method} {request.url}") from None
            return AWSResponse(request.url, status, headers, moto_stubber.MockRawResponse(body))

        # botocore calls every `before-send` handler and takes the first answer: moto's must stand
        # aside, or it would still do all its work. Ours answers everything or raises, so nothing
        # can fall through to the network meanwhile.
        stubber = moto_models.botocore_stubber
        for client in self._clients:
            client.meta.events.register_first("before-send", answer)
        stubber.enabled = False
        try:
            yield
        finally:
            stubber.enabled = True
            for client in self._clients:
                client.meta.events.unregister("before-send", answer)


# -- measuring -------------------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (what ru_maxrss reports) to the current RSS (Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


@dataclass
class Run:
    wall: float
    calls: Counter[str]
    call_seconds: dict[str, float]  # per operation, inside the call (client + answer)
    moto_seconds: dict[str, float]  # per operation, moto's part (none when replayed)
    moves: Counter[str]
    rss_growth: int = 0

    @property
    def aws(self) -> float:
        return sum(self.call_seconds.values())

    @property
    def moto(self) -> float:
        return sum(self.moto_seconds.values())


def _median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.wall)[(len(runs) - 1) // 2]


@dataclass
class Result:
    size: int
    items: int
    problems: int
    pings: int
    acks: int
    setup_seconds: float
    on_moto: list[Run]
    replayed: list[Run]
    load_registry: list[float]
    plan_tick: list[float]
    tracemalloc_peak: int
    rss_reset: bool

    @property
    def calls(self) -> Counter[str]:
        return self.on_moto[0].calls

    @property
    def moves(self) -> Counter[str]:
        return self.on_moto[0].moves

    @property
    def rss_growth(self) -> int:
        return max(r.rss_growth for r in self.replayed)


def tick_once(deps: TickDeps, meter: AwsMeter) -> Run:
    meter.reset()
    gc.collect()
    reset = _reset_peak_rss()
    before = _rss_bytes() if reset else _maxrss_bytes()
    report, wall = timed(partial(run_tick, deps, NOW))
    growth = max(0, _maxrss_bytes() - before)
    if report.archived:
        raise SystemExit(f"the tick archived {report.archived} pings: the generated state is wrong")
    return Run(
        wall, Counter(meter.calls), dict(meter.call_seconds), dict(meter.moto_seconds), report.moves, growth
    )


def measure(size: int, runs: int, profile: bool) -> Result:
    with mock_aws():
        cloud = build_cloud(size)
        deps = cloud.deps
        meter = AwsMeter()
        meter.attach(cloud.s3, cloud.events, cloud.dynamodb)

        on_moto = []
        for index in range(runs):
            # Every run starts on an empty queue: moto's SQS walks all its messages on each send, so a
            # queue left to grow would make every run slower than the one before. (PurgeQueue is
            # allowed once a minute, so a new queue it is.)
            if index:
                cloud.sqs.delete_queue(QueueUrl=cloud.queue_url)
                cloud.queue_url = _new_queue(cloud.sqs, cloud.setup_events, index)
            with meter.on_moto(record=index == 0):
                on_moto.append(tick_once(deps, meter))
        with meter.replaying():
            replayed = [tick_once(deps, meter) for _ in range(runs)]
            # Peak memory in a run of its own (tracing every allocation slows everything down),
            # replayed so that moto's own allocations are not counted.
            gc.collect()
            tracemalloc.start()
            tracemalloc.reset_peak()
            run_tick(deps, NOW)
            _, tracemalloc_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            if profile:
                profile_tick(deps, size)
            pings, acks = deps.store.load()  # for the pure part below
        for run in on_moto + replayed:
            if (run.calls, run.moves) != (on_moto[0].calls, on_moto[0].moves):
                raise SystemExit("two runs on the same state made different AWS calls or moves")

    # The pure part on the same input: no AWS, no botocore.
    rules = parse_rules(cloud.rules_text, RULES_KEY)
    load_times: list[float] = []
    plan_times: list[float] = []
    items = 0
    for _ in range(runs):
        gc.collect()
        registry, seconds = timed(partial(load_registry, cloud.registry, REGISTRY_KEY))
        load_times.append(seconds)
        listed = registry.items
        items = len(listed)
        _, seconds = timed(partial(plan_tick, listed, rules, pings, acks, TODAY, ADMIN))
        plan_times.append(seconds)

    return Result(
        size=size,
        items=items,
        problems=cloud.problems,
        pings=len(pings),
        acks=len(acks),
        setup_seconds=cloud.setup_seconds,
        on_moto=on_moto,
        replayed=replayed,
        load_registry=load_times,
        plan_tick=plan_times,
        tracemalloc_peak=tracemalloc_peak,
        rss_reset=_reset_peak_rss(),
    )


def profile_tick(deps: TickDeps, size: int, top: int = 30) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(run_tick, deps, NOW)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    print(
        f"\n== cProfile of one run_tick on replayed answers, {size:,} rows ==\n{out.getvalue()}", flush=True
    )


# -- reporting -------------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in rows:
        cells = [c.rjust(w) if c[:1].isdigit() else c.ljust(w) for c, w in zip(row, widths, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def _min_median(values: list[float]) -> str:
    return f"{_s(min(values))} / {_s(statistics.median(values))}"


def report(results: list[Result]) -> str:
    runs = len(results[0].on_moto)
    med = statistics.median
    main = _table(
        [
            "rows",
            "items / bad cells",
            "pings / acks",
            "moves",
            f"run_tick on moto, min / median of {runs}",
            "of which moto",
            "run_tick replayed, min / median",
            "pure: load_registry + plan_tick",
            "tracemalloc peak",
            "RSS growth",
        ],
        [
            [
                f"{r.size:,}",
                f"{r.items:,} / {r.problems}",
                f"{r.pings:,} / {r.acks:,}",
                f"{sum(r.moves.values()):,}",
                _min_median([run.wall for run in r.on_moto]),
                _s(_median_run(r.on_moto).moto),
                _min_median([run.wall for run in r.replayed]),
                f"{_s(med(r.load_registry))} + {_s(med(r.plan_tick))}",
                f"{r.tracemalloc_peak / MB:.0f} MB",
                f"{r.rss_growth / MB:.0f} MB",
            ]
            for r in results
        ],
    )
    split_rows = []
    for r in results:
        moto, replay = _median_run(r.on_moto), _median_run(r.replayed)
        for name in sorted(r.calls):
            split_rows.append(
                [
                    f"{r.size:,}",
                    f"{name} x{r.calls[name]:,}",
                    _s(moto.call_seconds.get(name, 0.0)),
                    _s(moto.moto_seconds.get(name, 0.0)),
                    _s(replay.call_seconds.get(name, 0.0)),
                ]
            )
        split_rows.append(
            [
                f"{r.size:,}",
                "tick code between calls",
                _s(moto.wall - moto.aws),
                "",
                _s(replay.wall - replay.aws),
            ]
        )
        split_rows.append([f"{r.size:,}", "total", _s(moto.wall), _s(moto.moto), _s(replay.wall)])
    split = _table(["rows", "part of run_tick", "on moto", "of which moto", "replayed"], split_rows)
    moves = _table(
        ["rows", "moves emitted"],
        [[f"{r.size:,}", ", ".join(f"{m} {n:,}" for m, n in sorted(r.moves.items()))] for r in results],
    )
    text = f"{main}\n\nWhere the time goes (median runs):\n\n{split}\n\n{moves}\n\n{verdict(results[-1])}"
    if not all(r.rss_reset for r in results):
        text += "\n(RSS growth is over the process's earlier peak: /proc/self/clear_refs was not writable)"
    return text


def verdict(r: Result) -> str:
    """The largest size against DESIGN.md §11, with the Lambda's CPU share spelled out."""
    share = TICK_MEMORY_MB / FULL_VCPU_MB
    own = statistics.median(run.wall for run in r.replayed)
    scans = r.calls.get("DynamoDB.Scan", 0)
    return textwrap.fill(
        f"DESIGN.md §11 at {r.size:,} rows: the tick's own work (answers replayed) takes {_s(own)} here, "
        f"on one core. daily-tick has {TICK_MEMORY_MB} MB, which Lambda backs with about {share:.2f} of a "
        f"vCPU ({FULL_VCPU_MB:,} MB = 1 vCPU): roughly {_s(own / share)} of CPU there, before the round "
        f"trips of {sum(r.calls.values()):,} sequential AWS calls; the timeout is 60 s. "
        f"DynamoDB: {scans} Scan pages for {r.pings + r.acks:,} stored rows "
        f"({(r.pings + r.acks) / max(scans, 1):,.0f} a page), no per-item request.",
        width=100,
    )


def as_json(results: list[Result]) -> list[dict[str, Any]]:
    def runs(items: list[Run]) -> list[dict[str, Any]]:
        return [
            {
                "wall_s": run.wall,
                "in_call_s": run.call_seconds,
                "moto_s": run.moto_seconds,
                "rss_growth_bytes": run.rss_growth,
            }
            for run in items
        ]

    return [
        {
            "rows": r.size,
            "items": r.items,
            "bad_cells": r.problems,
            "pings": r.pings,
            "acks": r.acks,
            "setup_s": r.setup_seconds,
            "aws_calls": dict(r.calls),
            "moves": dict(r.moves),
            "on_moto": runs(r.on_moto),
            "replayed": runs(r.replayed),
            "load_registry_s": r.load_registry,
            "plan_tick_s": r.plan_tick,
            "tracemalloc_peak_bytes": r.tracemalloc_peak,
        }
        for r in results
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="registry sizes in rows, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 rows only")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per size (default: %(default)s)")
    parser.add_argument("--profile", action="store_true", help="also cProfile one run at each size")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    try:
        sizes = (
            [1_000] if args.quick else [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
        )
    except ValueError:
        parser.error(f"--sizes takes whole numbers separated by commas, not {args.sizes!r}")
    if not sizes or min(sizes) < 10 or args.runs < 1:
        parser.error("every size must be at least 10 rows, and --runs at least 1")

    print(
        f"daily-tick benchmark, {datetime.now(UTC):%Y-%m-%d}: tick at {NOW.isoformat()}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()),
        flush=True,
    )
    results = []
    for size in sizes:
        result = measure(size, args.runs, args.profile)
        print(
            f"{size:>9,} rows: setup {result.setup_seconds:.1f} s (not timed); run_tick on moto "
            + ", ".join(_s(run.wall) for run in result.on_moto)
            + "; replayed "
            + ", ".join(_s(run.wall) for run in result.replayed),
            flush=True,
        )
        results.append(result)
        if args.json:  # after every size: a long run that is stopped keeps what it measured
            args.json.write_text(json.dumps(as_json(results), indent=2) + "\n")
    print("load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print()
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
