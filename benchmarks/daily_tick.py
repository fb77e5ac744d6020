"""How long does the daily tick take over a big registry, and where does the time go? (DESIGN.md §11:
100,000 rows well inside the 60 s Lambda timeout; DynamoDB requests grow with pages, not with rows.)

    make bench                                    # 1k, 10k, 100k rows, 3 runs each (a few minutes)
    make bench ARGS=--quick                       # 1k and 10k rows, 3 runs each (about a minute)
    make bench-300k                               # adds 300,000 rows (several minutes, a few GB)
    uv run python benchmarks/daily_tick.py --sizes 20000 --runs 5 --profile --json out.json
    uv run python benchmarks/daily_tick.py --sizes 1000 --check-moto     # the answers against moto

For each size a registry with realistic spread (categories, Slack and email owners, notice dates,
retired rows, ~0.5% bad rows) and a quarter's worth of chain state are generated (cached under
--cache, keyed by size: generating 300,000 rows takes minutes). Not timed.

The tick's own work, not a service's. Every AWS answer the tick needs is prepared in advance, exactly
as the service would send it (S3 objects with their ETag, DynamoDB Scan pages cut at 1 MB of item
data with LastEvaluatedKey, PutEvents results), and handed to botocore at `before-send`: botocore
still builds, signs and parses every request and answer as against AWS, but no service and no network
answers. `--check-moto` runs the same tick on moto once and checks the answers lead to the same moves.

Each timed run is a fresh Python process (like a cold Lambda container) that builds its clients and
calls `ew.daily_tick.run_tick` once; the setup's millions of objects are not in its heap. Reported:

- wall and CPU time of `run_tick` (min / median over --runs processes); the machine is shared, so the
  CPU time is the steadier figure, the wall time the one the target is about;
- where the time goes (median run): each AWS operation (request building, signing, parsing the
  answer) and each step of the tick (registry parse, state decode, decide, events), exclusive of
  the steps inside it, and the time the cyclic garbage collector ran;
- a second run in the same process (a warm container re-running the tick, e.g. Lambda's retry);
- peak memory: the process's peak RSS (what Lambda's memory setting caps) and, in one more process,
  the tracemalloc peak of the Python heap during the tick;
- AWS calls by operation, and the moves emitted (the same in every run, checked).

See benchmarks/README.md for the figures measured and what they mean.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import gc
import hashlib
import io
import itertools
import json
import os
import pickle
import pstats
import random
import re
import resource
import statistics
import string
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
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

from ew import daily_tick as tick_module  # noqa: E402
from ew import store as store_module  # noqa: E402
from ew.chain import ACK_ONLY, ESCALATE, RENEW, SNOOZE, Ack, Chain, Ping, current_item, decide  # noqa: E402
from ew.daily_tick import REGISTRY_KEY, RULES_KEY, TickDeps, event_source, run_tick  # noqa: E402
from ew.items import Item, channel_for, load_registry  # noqa: E402
from ew.rules import Rules, parse_rules  # noqa: E402
from ew.settings import Settings  # noqa: E402
from ew.store import SCHEDULED, SENT, ChainStore, _ack_row, _ping_row  # noqa: E402
from ew_local.tables import create_tables  # noqa: E402

DEFAULT_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
TIMEZONE = "Europe/London"
TZ = ZoneInfo(TIMEZONE)
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=TZ)  # a Monday, at the schedule's 08:00
TODAY = NOW.date()
ADMIN = "ops@acme.example"
RUNNING_FOR = timedelta(days=90)  # the watcher went live a quarter ago: chains start no earlier
BAD_ROW_SHARE = 0.005
TABLES = {"pings": "ew-pings", "ack": "ew-ack", "archive": "ew-pings-archive"}
SOURCE = event_source("ew")  # the stack's EW_EVENT_SOURCE with the default Prefix
REGISTRY_BUCKET = "ew-registry-source-bench"
RULES_BUCKET = "ew-rules-source-bench"
MB = 1024 * 1024
STATE_VERSION = 1  # bump when the generators change: cached states of another version are not used
ROOT = Path(__file__).resolve().parents[1]


def _function_setting(function: str, key: str) -> int:
    """A function's setting from template.yaml, so the verdict follows the template."""
    block = (ROOT / "template.yaml").read_text().split(f"{function}:", 1)[1]
    return int(re.search(rf"{key}:\s*(\d+)", block).group(1))  # type: ignore[union-attr]


TICK_MEMORY_MB = _function_setting("DailyTickFunction", "MemorySize")
TICK_TIMEOUT_S = _function_setting("DailyTickFunction", "Timeout")
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


# -- the tick's inputs, generated once per size ----------------------------------------------------

Row = dict[str, dict[str, str]]  # a DynamoDB item in its wire format


@dataclass
class Inputs:
    size: int
    sheet: bytes  # registry.csv as drive-sync last mirrored it
    state: State
    problems: int  # bad cells reported by load_registry
    items: int


def generate(size: int, cache: Path | None) -> Inputs:
    """The registry and the chain state for `size` rows, from the cache when it holds them."""
    path = cache / f"state-{size}-v{STATE_VERSION}.pickle" if cache else None
    if path and path.exists():
        with path.open("rb") as file:
            cached = pickle.load(file)
        return Inputs(size, cached["sheet"], State(**cached["state"]), cached["problems"], cached["items"])
    full = make_registry(size)
    registry = load_registry(full, REGISTRY_KEY)
    state = simulate_state([current_item(i, []) for i in registry.items], parse_rules(RULES_TEXT, RULES_KEY))
    sheet = stale_sheet(full, state.renewed_rows)
    stale = load_registry(sheet, REGISTRY_KEY)
    inputs = Inputs(size, sheet, state, len(stale.problems), len(stale.items))
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Plain values only: this module is __main__ in one process and daily_tick in another.
        plain = {"sheet": sheet, "state": vars(state), "problems": inputs.problems, "items": inputs.items}
        with path.open("wb") as file:
            pickle.dump(plain, file, protocol=pickle.HIGHEST_PROTOCOL)
    return inputs


def _ping_rows(pings: Iterable[Ping]) -> Iterator[Row]:
    for ping in pings:
        send_at = datetime.combine(ping.sent_on, clock_time(9, 0), TZ)
        status = SENT if send_at <= NOW else SCHEDULED  # weekend pings wait for Monday 09:00
        claimed = datetime.combine(ping.sent_on, clock_time(8, 1), TZ) if status == SENT else NOW
        yield _ping_row(ping, send_at, channel_for(ping.recipient), status, claimed)


def _ack_rows(acks: Iterable[tuple[Ack, int | None]]) -> Iterator[Row]:
    for ack, index in acks:
        yield _ack_row(ack, ack.at, index, ack.cycle_expiry if ack.action == RENEW else None)


def _archive_rows(pings: Iterable[Ping]) -> Iterator[Row]:
    for row in _ping_rows(pings):
        chain_key = f"{row['cycle_expiry']['S']}#{int(row['chain_index']['N']):04d}"
        yield {**row, "chain_key": {"S": chain_key}, "archived_at": row["claimed_at"]}


@dataclass
class TableSource:
    """One table's rows in key order, made on demand (a 300,000-row state would not fit as dicts)."""

    hash_key: str
    range_key: str
    rows: Callable[[], Iterator[Row]]


def table_sources(inputs: Inputs, store: ChainStore) -> dict[str, TableSource]:
    state = inputs.state
    pings = sorted(state.pings, key=lambda p: (p.item_id, p.chain_index))
    acks = sorted(state.acks, key=lambda a: (a[0].item_id, a[0].at))
    sources = {
        store.pings_table: TableSource("item_id", "chain_index", lambda: _ping_rows(pings)),
        store.ack_table: TableSource("item_id", "ack_date", lambda: _ack_rows(acks)),
        store.archive_table: TableSource("item_id", "chain_key", lambda: _archive_rows(state.archived)),
    }
    heads_table = getattr(store, "heads_table", None)
    if heads_table:
        # The chain heads as the store keeps them, in their steady state: the heads of cycles renewed
        # long enough ago that the sheet shows the new expiry were dropped by an earlier tick.
        caught_up = [
            (ack, index)
            for ack, index in acks
            if not (ack.action == RENEW and ack.item_id not in state.renewed_rows)
        ]
        sources[heads_table] = TableSource(
            "item_id",
            "cycle_expiry",
            lambda: itertools.chain(
                store_module.head_rows(_ping_rows(pings), _ack_rows(caught_up)), [store_module.BUILT]
            ),
        )
    return sources


# -- the answers S3, DynamoDB and EventBridge would give -------------------------------------------

Key = tuple[str, str, bytes, str]  # method, url, body, If-None-Match
Answer = tuple[int, dict[str, str], bytes]  # status, headers, body


class _Raw(io.BytesIO):
    """The raw HTTP body botocore reads (urllib3's `stream()` and `read()`)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        while chunk := self.read(64 * 1024):
            yield chunk


def _request_key(request: Any) -> Key:
    body = request.body
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = body.encode("utf-8")
    elif isinstance(body, bytes | bytearray):
        data = bytes(body)
    else:
        raise TypeError(f"cannot key a streamed request body ({type(body).__name__})")
    return request.method, request.url, data, _header(request, "If-None-Match")


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name, "")
    return value.decode() if isinstance(value, bytes) else str(value)


def _item_size(row: Row) -> int:
    """DynamoDB's item size: attribute names plus values (numbers about half their digits)."""
    size = 0
    for name, value in row.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            size += (len(value["N"]) + 1) // 2 + 1
        else:
            size += len(json.dumps(value))
    return size


class Answers:
    """Answers every request of the tick's clients at `before-send`, so botocore still builds, signs
    and parses everything but no service answers. Recording: computed from the objects and tables
    given, and kept; replaying: only what was recorded (anything else is an error, never the network)."""

    def __init__(self, recorded: dict[Key, Answer] | None = None) -> None:
        self.recorded: dict[Key, Answer] = recorded if recorded is not None else {}
        self.recording = recorded is None
        self.objects: dict[tuple[str, str], bytes] = {}
        self.tables: dict[str, TableSource] = {}
        self.rows_served: Counter[str] = Counter()
        self._cursors: dict[tuple[str, str], Iterator[Row]] = {}

    def attach(self, *clients: Any) -> None:
        for client in clients:
            client.meta.events.register_first("before-send", self._answer)

    def _answer(self, request: Any, event_name: str, **_: Any) -> AWSResponse:
        key = _request_key(request)
        answer = self.recorded.get(key)
        if answer is None:
            if not self.recording:
                raise RuntimeError(f"replay: no answer recorded for {request.method} {request.url}")
            service, operation = event_name.split(".")[1:3]
            answer = self.recorded[key] = self._compute(service, operation, request)
        status, headers, body = answer
        return AWSResponse(request.url, status, headers, _Raw(body))

    def _compute(self, service: str, operation: str, request: Any) -> Answer:
        if (service, operation) == ("s3", "GetObject"):
            return self._get_object(request)
        if (service, operation) == ("dynamodb", "Scan"):
            return self._scan(json.loads(request.body))
        if (service, operation) == ("eventbridge", "PutEvents"):
            entries = json.loads(request.body)["Entries"]
            ids = [{"EventId": hashlib.md5(json.dumps(e).encode()).hexdigest()} for e in entries]
            return _json_answer({"Entries": ids, "FailedEntryCount": 0}, "application/x-amz-json-1.1")
        raise RuntimeError(f"the benchmark has no answer for {service}.{operation}: the state is not steady")

    def _get_object(self, request: Any) -> Answer:
        parts = urlsplit(request.url)
        host_bucket = parts.hostname.split(".s3", 1)[0] if parts.hostname else ""
        path = unquote(parts.path.lstrip("/"))
        if host_bucket and host_bucket != "s3":
            bucket, key = host_bucket, path
        else:
            bucket, _, key = path.partition("/")
        data = self.objects.get((bucket, key))
        if data is None:
            body = (
                b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
            )
            return 404, {"Content-Type": "application/xml"}, body
        etag = f'"{hashlib.md5(data).hexdigest()}"'
        headers = {"ETag": etag, "Last-Modified": "Mon, 23 Nov 2026 07:45:00 GMT", "Accept-Ranges": "bytes"}
        if _header(request, "If-None-Match") == etag:
            return 304, headers, b""
        headers.update({"Content-Length": str(len(data)), "Content-Type": "binary/octet-stream"})
        return 200, headers, data

    def _scan(self, params: dict[str, Any]) -> Answer:
        table = params["TableName"]
        source = self.tables[table]
        names = params.get("ExpressionAttributeNames", {})
        projection = (
            [names.get(p.strip(), p.strip()) for p in params["ProjectionExpression"].split(",")]
            if "ProjectionExpression" in params
            else None
        )
        limit = params.get("Limit")
        start = params.get("ExclusiveStartKey")
        rows = self._cursor(table, source, start)
        items: list[Row] = []
        size = 0
        last: Row | None = None
        for row in rows:
            items.append({n: row[n] for n in projection if n in row} if projection else row)
            size += _item_size(row)
            last = row
            if size >= MB or (limit and len(items) >= limit):
                break
        else:
            last = None  # the table is read to its end
        body: dict[str, Any] = {"Count": len(items), "Items": items, "ScannedCount": len(items)}
        if last is not None:
            lek = {source.hash_key: last[source.hash_key], source.range_key: last[source.range_key]}
            body["LastEvaluatedKey"] = lek
            self._cursors[(table, json.dumps(lek, sort_keys=True))] = rows
        self.rows_served[table] += len(items)
        return _json_answer(body, "application/x-amz-json-1.0")

    def _cursor(self, table: str, source: TableSource, start: dict[str, Any] | None) -> Iterator[Row]:
        if start is None:
            return source.rows()
        cursor = self._cursors.pop((table, json.dumps(start, sort_keys=True)), None)
        if cursor is not None:
            return cursor
        rows = source.rows()  # not the page we served last: walk to the start key
        for row in rows:
            if {k: row[k] for k in start} == start:
                return rows
        return iter(())


def _json_answer(body: dict[str, Any], content_type: str) -> Answer:
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(len(data)),
        "x-amz-crc32": str(zlib.crc32(data)),  # DynamoDB sends it and botocore checks it
        "x-amzn-RequestId": hashlib.md5(data).hexdigest(),
    }
    return 200, headers, data


# -- metering one tick ---------------------------------------------------------------------------

# What the steps are called in the report, in the order of the tick.
STEP_NAMES = {
    "S3.GetObject": "S3 GetObject calls (registry + rules)",
    "read_object": "reading the objects' bodies",
    "registry": "registry parse (load_registry, or its cache)",
    "read_rules": "rules parse",
    "DynamoDB.Scan": "state: Scan calls (build, sign, parse the answer)",
    "store.load": "state: decode to Python objects",
    "plan_tick": "decide (plan_tick)",
    "store.archive": "archive closed chains",
    "move_event": "build the events",
    "put_all": "batch the events",
    "EventBridge.PutEvents": "PutEvents calls",
    "run_tick": "the rest of run_tick",
}


class Meter:
    """Exclusive time per step of one tick: each AWS operation (before-call to after-call) and each
    tick function (wrapped where run_tick looks it up), minus the steps running inside it. Also the
    time the cyclic garbage collector ran, and the AWS calls by operation."""

    def __init__(self) -> None:
        self.exclusive: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.gc_seconds = 0.0
        self.gc_collections: Counter[int] = Counter()
        self._stack: list[list[Any]] = []
        self._gc_started = 0.0
        gc.callbacks.append(self._gc)

    def reset(self) -> None:
        self.exclusive.clear()
        self.calls.clear()
        self.gc_seconds = 0.0
        self.gc_collections.clear()

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_seconds += time.perf_counter() - self._gc_started
            self.gc_collections[info["generation"]] += 1

    def enter(self, name: str) -> None:
        self._stack.append([name, time.perf_counter(), 0.0])

    def leave(self) -> None:
        name, started, inner = self._stack.pop()
        elapsed = time.perf_counter() - started
        self.exclusive[name] += elapsed - inner
        if self._stack:
            self._stack[-1][2] += elapsed

    def timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.enter(name)
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave()

        return wrapper

    def attach(self, *clients: Any) -> None:
        for client in clients:
            client.meta.events.register("before-call.*.*", self._before)
            client.meta.events.register("after-call.*.*", self._after)
            client.meta.events.register("after-call-error.*.*", self._after)

    def _before(self, model: Any, **_: Any) -> None:  # must return None: a value would answer the call
        name = f"{model.service_model.service_id}.{model.name}"
        self.calls[name] += 1
        self.enter(name)

    def _after(self, **_: Any) -> None:
        self.leave()

    def wrap_tick(self, store: ChainStore) -> None:
        """Time the tick's steps where run_tick looks them up (whichever of them this version has)."""
        for attr, name in (
            ("read_object", "read_object"),
            ("load_registry", "registry"),
            ("read_registry", "registry"),
            ("read_rules", "read_rules"),
            ("plan_tick", "plan_tick"),
            ("move_event", "move_event"),
            ("put_all", "put_all"),
        ):
            if hasattr(tick_module, attr):
                setattr(tick_module, attr, self.timed(name, getattr(tick_module, attr)))
        for attr in ("load", "load_heads", "archive"):
            if hasattr(store, attr):
                setattr(
                    store,
                    attr,
                    self.timed(f"store.{'load' if attr.startswith('load') else attr}", getattr(store, attr)),
                )


# -- one tick in a fresh process (the timed part) ------------------------------------------------


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
    """This process's peak RSS since the last reset: VmHWM, not ru_maxrss, which also counts the
    parent's RSS at fork time (the benchmark's, with all its generated state)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def _tick_deps(answers: Answers) -> tuple[TickDeps, list[Any]]:
    clients = [boto3.client(name) for name in ("s3", "events", "dynamodb")]
    answers.attach(*clients)
    s3, events, dynamodb = clients
    store = ChainStore(dynamodb, *TABLES.values())
    settings = Settings(timezone=TIMEZONE, admin=ADMIN)
    return TickDeps(s3, events, store, REGISTRY_BUCKET, RULES_BUCKET, settings, SOURCE), clients


def _one_tick(deps: TickDeps, meter: Meter) -> dict[str, Any]:
    gc.collect()
    meter.reset()
    before = _rss_bytes()
    reset = _reset_peak_rss()
    cpu = time.process_time()
    started = time.perf_counter()
    report = run_tick(deps, NOW)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "steps_s": dict(meter.exclusive),
        "calls": dict(meter.calls),
        "gc_s": meter.gc_seconds,
        "gc_collections": {str(k): v for k, v in sorted(meter.gc_collections.items())},
        "moves": dict(report.moves),
        "archived": report.archived,
        "rss_before_bytes": before,
        "rss_growth_bytes": max(0, _maxrss_bytes() - before) if reset else None,
    }


def child_main(recording: Path, mode: str) -> None:
    """One process, one cold tick (and a warm re-run): prints its figures as one JSON line."""
    baseline = _rss_bytes()  # boto3 and the watcher imported, as in the Lambda before its first call
    with recording.open("rb") as file:
        answers = Answers(pickle.load(file))
    held = sum(len(body) for _, _, body in answers.recorded.values())
    deps, clients = _tick_deps(answers)
    meter = Meter()
    meter.attach(*clients)
    meter.wrap_tick(deps.store)
    if mode == "trace":
        gc.collect()
        tracemalloc.start()
        run_tick(deps, NOW)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(json.dumps({"tracemalloc_peak_bytes": peak}))
        return
    if mode == "profile":
        profiler = cProfile.Profile()
        profiler.runcall(run_tick, deps, NOW)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(25)
        print(json.dumps({"profile": out.getvalue()}))
        return
    cold = _one_tick(deps, meter)
    warm = _one_tick(deps, meter)
    print(json.dumps({"baseline_rss_bytes": baseline, "answers_bytes": held, "cold": cold, "warm": warm}))


def _run_child(recording: Path, mode: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(recording), "--mode", mode],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the tick process failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- per size ------------------------------------------------------------------------------------


@dataclass
class Result:
    size: int
    items: int
    problems: int
    pings: int
    acks: int
    state_rows: int  # rows the tick's Scans returned
    calls: dict[str, int]
    moves: dict[str, int]
    runs: list[dict[str, Any]]  # one per process: {"cold": ..., "warm": ..., "baseline_rss_bytes": ...}
    tracemalloc_peak: int
    setup_s: float
    moto_checked: bool = False

    def cold(self, key: str) -> list[float]:
        return [run["cold"][key] for run in self.runs]

    def warm(self, key: str) -> list[float]:
        return [run["warm"][key] for run in self.runs]

    @property
    def median_cold(self) -> dict[str, Any]:
        runs = sorted((run["cold"] for run in self.runs), key=lambda r: r["wall_s"])
        return runs[(len(runs) - 1) // 2]

    @property
    def peak_rss(self) -> int:
        """The highest RSS of a cold tick's process, less the recorded answers it holds (a Lambda holds
        one page at a time)."""
        return max(
            run["cold"]["rss_before_bytes"] + (run["cold"]["rss_growth_bytes"] or 0) - run["answers_bytes"]
            for run in self.runs
        )


def record(inputs: Inputs, workdir: Path) -> tuple[Path, dict[str, Any], Answers]:
    """Run the tick twice here (cold, then warm) with answers computed from the inputs, and keep every
    answer for the timed processes. Returns the recording, the first run's figures and the answers."""
    answers = Answers()
    deps, clients = _tick_deps(answers)
    getattr(tick_module, "_PARSED", {}).clear()  # the first run is a cold container's
    answers.objects = {
        (REGISTRY_BUCKET, REGISTRY_KEY): inputs.sheet,
        (RULES_BUCKET, RULES_KEY): RULES_TEXT.encode(),
    }
    answers.tables = table_sources(inputs, deps.store)
    meter = Meter()
    meter.attach(*clients)
    first = _one_tick(deps, meter)
    second = _one_tick(deps, meter)
    for run in (first, second):
        if run["archived"]:
            raise SystemExit(f"the tick archived {run['archived']} pings: the generated state is not steady")
    if (first["moves"], first["calls"].keys() - {"S3.GetObject"}) != (
        second["moves"],
        second["calls"].keys() - {"S3.GetObject"},
    ):
        raise SystemExit("two runs on the same state made different moves or calls")
    path = workdir / f"answers-{inputs.size}.pickle"
    with path.open("wb") as file:
        pickle.dump(answers.recorded, file, protocol=pickle.HIGHEST_PROTOCOL)
    return path, first, answers


def check_on_moto(inputs: Inputs, expected_moves: dict[str, int], expected_events: list[str]) -> None:
    """The same tick on moto (DynamoDB, S3 and EventBridge as moto implements them): the same moves
    and the same events, or the prepared answers are not what AWS would say."""
    from moto import mock_aws

    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        s3 = boto3.client("s3")
        store = ChainStore(dynamodb, *TABLES.values())
        create_tables(dynamodb)  # every table template.yaml declares, the chain heads included
        for table, source in table_sources(inputs, store).items():
            batch: list[dict[str, Any]] = []
            for row in [*source.rows(), None]:
                if row is not None:
                    batch.append({"PutRequest": {"Item": row}})
                if batch and (row is None or len(batch) == 25):
                    dynamodb.batch_write_item(RequestItems={table: batch})
                    batch = []
        for bucket, key, body in (
            (REGISTRY_BUCKET, REGISTRY_KEY, inputs.sheet),
            (RULES_BUCKET, RULES_KEY, RULES_TEXT.encode()),
        ):
            s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        events = boto3.client("events")
        sent: list[str] = []
        events.meta.events.register(
            "provide-client-params.events.PutEvents",
            lambda params, **_: sent.extend(e["Detail"] for e in params["Entries"]),
        )
        deps = TickDeps(
            s3, events, store, REGISTRY_BUCKET, RULES_BUCKET, Settings(timezone=TIMEZONE, admin=ADMIN), SOURCE
        )
        report = run_tick(deps, NOW)
    if dict(report.moves) != expected_moves or sorted(sent) != sorted(expected_events):
        raise SystemExit(
            f"on moto the tick made {dict(report.moves)}, with the prepared answers {expected_moves}: "
            "the answers are not what the services would say"
        )


def _events_sent(answers: Answers) -> list[str]:
    details = []
    seen = set()
    for _method, url, body, _ in answers.recorded:
        if "events." in url and body and body not in seen:
            seen.add(body)
            details += [e["Detail"] for e in json.loads(body)["Entries"]]
    return details


def measure(size: int, runs: int, args: argparse.Namespace) -> Result:
    started = time.perf_counter()
    inputs = generate(size, None if args.no_cache else args.cache)
    setup = time.perf_counter() - started
    workdir = args.cache if not args.no_cache else Path("/tmp")
    workdir.mkdir(parents=True, exist_ok=True)
    recording, first, answers = record(inputs, workdir)
    if args.check_moto:
        check_on_moto(inputs, first["moves"], _events_sent(answers))
    state_rows = sum(answers.rows_served.values())  # rows of one run: the second was replayed
    del answers
    gc.collect()
    results = []
    for index in range(runs):
        result = _run_child(recording, "time")
        for run in (result["cold"], result["warm"]):
            if (run["moves"], run["archived"]) != (first["moves"], 0):
                raise SystemExit("a timed run made other moves than the recorded one")
        results.append(result)
        print(
            f"{size:>9,} rows, run {index + 1}/{runs}: tick {_s(result['cold']['wall_s'])} "
            f"(CPU {_s(result['cold']['cpu_s'])}), warm re-run {_s(result['warm']['wall_s'])}",
            flush=True,
        )
    trace = _run_child(recording, "trace")
    if args.profile:
        print(
            f"\n== cProfile of one run_tick, {size:,} rows ==\n{_run_child(recording, 'profile')['profile']}"
        )
    recording.unlink()
    return Result(
        size=size,
        items=inputs.items,
        problems=inputs.problems,
        pings=len(inputs.state.pings),
        acks=len(inputs.state.acks),
        state_rows=state_rows,
        calls=first["calls"],
        moves=first["moves"],
        runs=results,
        tracemalloc_peak=trace["tracemalloc_peak_bytes"],
        setup_s=setup,
        moto_checked=args.check_moto,
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
    med = statistics.median
    runs = len(results[0].runs)
    main = _table(
        [
            "rows",
            "items / bad cells",
            "pings / acks stored",
            "state rows read",
            "moves",
            f"tick wall, min / median of {runs}",
            "tick CPU, min / median",
            "warm re-run, median",
            "peak RSS",
            "tracemalloc peak",
        ],
        [
            [
                f"{r.size:,}",
                f"{r.items:,} / {r.problems}",
                f"{r.pings:,} / {r.acks:,}",
                f"{r.state_rows:,}",
                f"{sum(r.moves.values()):,}",
                _min_median(r.cold("wall_s")),
                _min_median(r.cold("cpu_s")),
                _s(med(r.warm("wall_s"))),
                f"{r.peak_rss / MB:.0f} MB",
                f"{r.tracemalloc_peak / MB:.0f} MB",
            ]
            for r in results
        ],
    )
    steps = sorted({name for r in results for name in r.median_cold["steps_s"]}, key=_step_order)
    split = _table(
        ["part of the tick (median run, exclusive)", *(f"{r.size:,} rows" for r in results)],
        [
            *(
                [STEP_NAMES.get(name, name), *(_s(r.median_cold["steps_s"].get(name, 0.0)) for r in results)]
                for name in steps
            ),
            ["total (wall)", *(_s(r.median_cold["wall_s"]) for r in results)],
            ["of which the garbage collector", *(_s(r.median_cold["gc_s"]) for r in results)],
            [
                "GC collections (gen 0 / 1 / 2)",
                *(
                    " / ".join(str(r.median_cold["gc_collections"].get(str(g), 0)) for g in range(3))
                    for r in results
                ),
            ],
        ],
    )
    calls = _table(
        ["rows", "AWS calls per tick", "moves emitted"],
        [
            [
                f"{r.size:,}",
                ", ".join(f"{name} x{n:,}" for name, n in sorted(r.calls.items())),
                ", ".join(f"{m} {n:,}" for m, n in sorted(r.moves.items())),
            ]
            for r in results
        ],
    )
    per_row = _table(
        [
            "rows",
            "tick wall per 1,000 rows, median",
            "tick CPU per 1,000 rows, min / median",
            "peak RSS per 1,000 rows",
        ],
        [
            [
                f"{r.size:,}",
                f"{1e6 * med(r.cold('wall_s')) / r.size:.1f} ms",
                " / ".join(f"{1e6 * f(r.cold('cpu_s')) / r.size:.1f} ms" for f in (min, med)),
                f"{r.peak_rss / r.size * 1000 / MB:.2f} MB",
            ]
            for r in results
        ],
    )
    growth = ""
    if len(results) > 1:
        first, last = results[0], results[-1]
        growth = (
            f"\n\n{first.size:,} -> {last.size:,} rows: x{last.size / first.size:g} the rows, "
            f"x{med(last.cold('cpu_s')) / med(first.cold('cpu_s')):.1f} the tick's CPU time (median; "
            f"x{min(last.cold('cpu_s')) / min(first.cold('cpu_s')):.1f} min to min), "
            f"x{last.peak_rss / first.peak_rss:.1f} the peak RSS"
        )
    return (
        f"{main}\n\nWhere the time goes:\n\n{split}\n\n{calls}\n\nGrowth:\n\n{per_row}{growth}\n\n"
        f"{verdict(results)}"
    )


def _step_order(name: str) -> int:
    order = list(STEP_NAMES)
    return order.index(name) if name in order else len(order)


def verdict(results: list[Result]) -> str:
    """Against issue 13 and DESIGN.md §11, with the Lambda's CPU share spelled out."""
    share = TICK_MEMORY_MB / FULL_VCPU_MB
    lines = []
    for r in results:
        wall = statistics.median(r.cold("wall_s"))
        cpu = statistics.median(r.cold("cpu_s"))
        lines.append(
            f"{r.size:,} rows: the tick's own work takes {_s(wall)} here (median wall; {_s(cpu)} CPU), "
            f"peak RSS about {r.peak_rss / MB:.0f} MB of daily-tick's {TICK_MEMORY_MB} MB"
            + (f", under the 5 s target: {'yes' if wall < 5 else 'NO'}" if r.size == 100_000 else "")
            + (", answers checked against moto" if r.moto_checked else "")
            + "."
        )
    largest = results[-1]
    cpu = statistics.median(largest.cold("cpu_s"))
    lines.append(
        f"daily-tick has {TICK_MEMORY_MB} MB, which Lambda backs with about {share:.2f} of a vCPU: "
        f"{largest.size:,} rows are roughly {_s(cpu / share)} of CPU there, before the round trips of "
        f"{sum(largest.calls.values()):,} sequential AWS calls; the timeout is {TICK_TIMEOUT_S} s."
    )
    return "\n".join(textwrap.fill(line, width=100) for line in lines)


def as_json(results: list[Result]) -> list[dict[str, Any]]:
    return [
        {
            "rows": r.size,
            "items": r.items,
            "bad_cells": r.problems,
            "pings": r.pings,
            "acks": r.acks,
            "state_rows_read": r.state_rows,
            "aws_calls": r.calls,
            "moves": r.moves,
            "runs": r.runs,
            "peak_rss_bytes": r.peak_rss,
            "tracemalloc_peak_bytes": r.tracemalloc_peak,
            "setup_s": r.setup_s,
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
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 rows only")
    parser.add_argument("--runs", type=int, default=3, help="timed processes per size (default: %(default)s)")
    parser.add_argument("--profile", action="store_true", help="also cProfile one run at each size")
    parser.add_argument("--check-moto", action="store_true", help="also run each size once on moto (slow)")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path("/tmp/ew-bench-cache"),
        help="where generated states are kept between runs (default: %(default)s)",
    )
    parser.add_argument("--no-cache", action="store_true", help="generate every state afresh")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="time", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child, args.mode)
        return 0
    try:
        sizes = (
            list(QUICK_SIZES)
            if args.quick
            else [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
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
        results.append(measure(size, args.runs, args))
        if args.json:  # after every size: a long run that is stopped keeps what it measured
            args.json.write_text(json.dumps(as_json(results), indent=2) + "\n")
    print("load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print()
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
