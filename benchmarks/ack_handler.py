"""How fast does the ack-handler answer a click from cold? (DESIGN.md §11: module import + first request
well under 1 s locally; no Google client import on the synchronous path. §8: Slack wants its answer
within 3 s, cold start included.)

    make bench-ack                                            # about 30 s
    uv run python benchmarks/ack_handler.py --runs 9 --fresh-runs 9 --clicks 500
    uv run python benchmarks/ack_handler.py --profile         # adds cProfile of the first request/clicks

Nothing leaves the machine: AWS is moto (fake credentials), Slack is LocalCloud's fake Slack.

1. Cold import. `import app` (src/ack_handler/app.py) in fresh interpreters, with the layer first on
   sys.path as Lambda puts it (PYTHONPATH=layers/shared:src/ack_handler, cwd = the function's code),
   `--runs` times after one untimed warm-up run (which writes the .pyc files, as pip does for the
   layer). Reported: the import alone (perf_counter inside the child), the child process's wall time
   (interpreter start + import + exit) and, for scale, the wall time of a bare `python -c pass`.
   Then `-X importtime` (median of 3 runs): the 10 heaviest imports by cumulative time and the
   third-party packages by their own import time, each with the chain of imports that pulls it in.
   The child lists sys.modules after the import: googleapiclient there fails the benchmark (exit 1).

2. A cold container, end to end, `--fresh-runs` times: a fresh interpreter imports app, then handles a
   first signed `ack_only` click, which builds the deps (one SSM GetParametersByPath, three Secrets
   Manager reads, boto3 clients, the Slack client), and a second click. Its AWS is LocalCloud's moto,
   served over localhost HTTP by a moto server thread in this process (same in-memory state), so the
   child's heap and modules are the handler's alone. This is the figure the target is about. The child
   also reports what the first request imports lazily, and checks for googleapiclient again.
   With a built layer (`--layer`, `make bench-cold`), two options say how much of it is ours:
   `--floor` times, interleaved, the same clicks answered by FLOOR_CHILD, the libraries alone (boto3,
   slack_sdk, Powertools Logger/Metrics; the same reads, writes and card update; none of our code), and
   `--instructions` counts the instructions (valgrind's callgrind) of one cold click, ours and the
   floor's: the same count for the same code on any machine however busy, where times drift.

3. First request and per click, in this process, on LocalCloud: the real handler behind its Function
   URL gets Slack-signed `ack_only` clicks (LocalCloud.slack_click), each on a different ping; the
   alerts are dispatched first, untimed. Before the first click every cache a cold container would
   not have is dropped (runtime.reset(): settings, secrets, clients; Powertools' parameter providers;
   boto3's default session); `--cold-repeats` more clicks drop them again; then `--clicks` warm clicks.
   moto runs in this process: every AWS call's server side (routing, the in-memory DynamoDB) is inside
   the times, as is the fake Slack's localhost round trip for chat.update. Both are metered (time in
   moto's botocore hook, time in the Slack gateway's calls) and subtracted in the last rows; what is
   left is the handler's own work (signature check, parsing, Powertools, botocore's client side).
   The in-process first request is noisy: this process's heap (moto, the alerts) is ~5x a fresh
   container's, and a full GC landing in the request is counted; `--gc-freeze` freezes that heap.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import gc
import io
import json
import logging
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from children import marked_result  # benchmarks/children.py, beside this script

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

if TYPE_CHECKING:
    from ew_local.cloud import LocalCloud

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "shared"
FUNCTION = ROOT / "src" / "ack_handler"
FIRST_ALERT = ROOT / "events" / "dispatch" / "first_alert.json"
TARGET_S = 1.0  # DESIGN.md §11: import + first request "well under" this
SLACK_DEADLINE_S = 3.0  # DESIGN.md §8
FORBIDDEN = "googleapiclient"  # DESIGN.md §11: never imported on the synchronous path
# Reported when present after the import: heavy, or not needed to answer a click.
WATCH = (
    "googleapiclient",
    "google.auth",
    "google.oauth2",
    "httplib2",
    "openpyxl",
    "docx",
    "pypdf",
    "holidays",
    "s3transfer",
    "moto",
)
FIRST_PARTY = ("app", "ew", "opskit")
TOP = 10
MARK = "@@ack-bench@@ "  # marks the child's result line among whatever else it prints
SETTINGS = {"timezone": "Europe/London", "admin": "ops@acme.example"}
CLICKER = "U04FIN0001"

CHILD = f"""
import json, sys, time
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
names = set(sys.modules)
import gc
watch = {WATCH!r}
print("{MARK}" + json.dumps({{
    "import_s": t1 - t0,
    "modules": len(names),
    "heap": len(gc.get_objects()),
    "forbidden": sorted(m for m in names if m == {FORBIDDEN!r} or m.startswith({FORBIDDEN!r} + ".")),
    "loaded": [w for w in watch if w in names],
}}))
"""


# -- 1. cold import -------------------------------------------------------------------------------------


def lambda_env() -> dict[str, str]:
    """The child's environment: the layer and the function's code on sys.path, as on Lambda."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "PYTHONSTARTUP"))}
    env.update(
        PYTHONPATH=f"{LAYER}{os.pathsep}{FUNCTION}",
        POWERTOOLS_SERVICE_NAME="expiry-watcher",
        POWERTOOLS_METRICS_NAMESPACE="ExpiryWatcher",
        AWS_LAMBDA_FUNCTION_NAME="ew-ack-handler",
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_child(args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], cwd=FUNCTION, env=lambda_env(), capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the child failed ({done.returncode}):\n{done.stderr}")
    return wall, done


@dataclass
class ImportResult:
    import_s: list[float] = field(default_factory=list)
    process_s: list[float] = field(default_factory=list)
    bare_s: list[float] = field(default_factory=list)
    modules: int = 0
    heap: int = 0  # objects tracked by the GC after the import
    forbidden: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    heaviest: list[tuple[str, float, float, str]] = field(default_factory=list)  # name, cum, self, via
    packages: list[tuple[str, float, str]] = field(default_factory=list)  # package, self sum, via


def cold_import(runs: int) -> ImportResult:
    result = ImportResult()
    run_child(["-c", CHILD])  # warm-up: writes the .pyc files, not timed
    for _ in range(runs):
        bare, _done = run_child(["-c", "pass"])
        wall, done = run_child(["-c", CHILD])
        seen = json.loads(
            next(ln for ln in done.stdout.splitlines() if ln.startswith(MARK)).removeprefix(MARK)
        )
        result.bare_s.append(bare)
        result.process_s.append(wall)
        result.import_s.append(seen["import_s"])
        result.modules = seen["modules"]
        result.heap = seen["heap"]
        result.forbidden = sorted(set(result.forbidden) | set(seen["forbidden"]))
        result.loaded = seen["loaded"]
    traces = [
        parse_importtime(run_child(["-X", "importtime", "-c", "import app"])[1].stderr) for _ in range(3)
    ]
    result.heaviest, result.packages = heaviest(traces)
    return result


@dataclass(frozen=True)
class Imported:
    name: str
    self_us: int
    cumulative_us: int
    parent: int | None  # index of the module whose import imported this one


def parse_importtime(stderr: str) -> list[Imported]:
    """`-X importtime` lines, in their (post-)order, each with the index of its importer."""
    rows: list[tuple[str, int, int, int]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, named = line.removeprefix("import time:").split("|")
        depth = (len(named) - len(named.lstrip()) - 1) // 2
        rows.append((named.strip(), int(self_us), int(cumulative_us), depth))
    parents: list[int | None] = [None] * len(rows)
    pending: list[tuple[int, int]] = []  # (index, depth) of modules still waiting for their importer
    for index, (_name, _s, _c, depth) in enumerate(rows):
        while pending and pending[-1][1] > depth:
            parents[pending.pop()[0]] = index
        pending.append((index, depth))
    return [Imported(n, s, c, parents[i]) for i, (n, s, c, _d) in enumerate(rows)]


def chain(trace: list[Imported], index: int) -> str:
    """Who pulls a module in: its importers, outermost first, each third-party package shown once (by its
    outermost module) and the module's own package left out."""
    names: list[str] = []
    parent = trace[index].parent
    while parent is not None:
        names.insert(0, trace[parent].name)
        parent = trace[parent].parent
    shown: list[str] = []
    for name in names:
        package = name.split(".")[0]
        if package in FIRST_PARTY or not shown or shown[-1].split(".")[0] != package:
            shown.append(name)
    own = trace[index].name.split(".")[0]
    while shown and shown[-1].split(".")[0] == own and own not in FIRST_PARTY:
        shown.pop()
    return " > ".join(shown) or "-"


def heaviest(
    traces: list[list[Imported]],
) -> tuple[list[tuple[str, float, float, str]], list[tuple[str, float, str]]]:
    cumulative: dict[str, list[int]] = defaultdict(list)
    own: dict[str, list[int]] = defaultdict(list)
    package_own: dict[str, list[int]] = defaultdict(list)
    for trace in traces:
        per_package: dict[str, int] = defaultdict(int)
        for row in trace:
            cumulative[row.name].append(row.cumulative_us)
            own[row.name].append(row.self_us)
            per_package[row.name.split(".")[0]] += row.self_us
        for package, total in per_package.items():
            package_own[package].append(total)
    first = traces[0]
    where = {row.name: i for i, row in enumerate(first)}
    outermost: dict[str, int] = {}  # package -> its module imported from outside the package
    for i, row in enumerate(first):
        package = row.name.split(".")[0]
        parent = first[row.parent].name.split(".")[0] if row.parent is not None else None
        if parent != package:
            outermost.setdefault(package, i)
    modules = sorted(
        (n for n in cumulative if n != "app"), key=lambda n: statistics.median(cumulative[n]), reverse=True
    )
    top_modules = [
        (n, statistics.median(cumulative[n]) / 1e6, statistics.median(own[n]) / 1e6, chain(first, where[n]))
        for n in modules[:TOP]
    ]
    packages = sorted(
        (p for p in package_own if p not in FIRST_PARTY),
        key=lambda p: statistics.median(package_own[p]),
        reverse=True,
    )
    top_packages = [
        (p, statistics.median(package_own[p]) / 1e6, chain(first, outermost[p]) if p in outermost else "-")
        for p in packages[:TOP]
    ]
    return top_modules, top_packages


# -- clicks to click: alerts dispatched through LocalCloud ----------------------------------------------


def alert_event(template: dict[str, Any], item_id: str) -> dict[str, Any]:
    event = copy.deepcopy(template)
    event["detail"]["item"]["item_id"] = item_id
    event["detail"]["move"]["item_id"] = item_id
    return event


def alerts(cloud: LocalCloud, count: int, prefix: str) -> list[dict[str, Any]]:
    """Dispatch `count` first alerts, each for its own item (so each click acts on its own ping), and
    return an `ack_only` click on each, as Slack would send it. Untimed."""
    from ew_local.slack_payloads import button_click

    template = json.loads(FIRST_ALERT.read_text())
    payloads = []
    # Quiet: dispatch warns that rules.txt is not mirrored (the built-in rules do), and Powertools, with
    # metrics disabled, still prints its buffer of 100 `Pings_sent` values.
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(count):
                item_id = f"{prefix}-{i:05d}"
                outcome = cloud.dispatch(alert_event(template, item_id))
                assert outcome["status"] == "sent" and outcome["channel"] == "slack", outcome
                record = cloud.store.get(item_id, 0)
                assert record is not None and record.message_ref
                channel, ts = record.message_ref.split("/")
                message = cloud.slack.message(channel, ts)
                assert message is not None
                shown = {"channel": channel, "ts": ts, "blocks": message["blocks"], "text": message["text"]}
                payloads.append(button_click(shown, "ack_only", CLICKER))
    finally:
        logging.disable(logging.NOTSET)
    return payloads


# -- 2. a cold container end to end: import + first request in a fresh interpreter ----------------------

FRESH_CHILD = f"""
import json, os, sys, time
profile_to = os.environ.get("EW_BENCH_PROFILE")
if profile_to:
    import cProfile
    profiler = cProfile.Profile()
    profiler.enable()
# Record every module compiled from source (no valid .pyc found): on a built layer, none should be
# but the function's own app.py, or the figures include compiling what Lambda would load compiled.
import importlib.machinery
compiled = []
_source_to_code = importlib.machinery.SourceFileLoader.source_to_code
def _recording(self, data, path, *args, **kwargs):
    compiled.append(str(path))
    return _source_to_code(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = _recording
c0 = time.process_time()
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
c1 = time.process_time()
events = json.loads(sys.stdin.read())

# Meter the deps build and boto3's sessions and clients (wrapped after the import: not part of it).
import botocore.session
from ew import runtime
spent = {{"deps": 0.0, "clients": 0.0, "sessions": 0, "client_count": 0}}

def metered(owner, name, key, count=None):
    original = getattr(owner, name)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            if key:
                spent[key] += time.perf_counter() - start
            if count:
                spent[count] += 1
    setattr(owner, name, timed)

metered(app, "deps", "deps")
metered(botocore.session.Session, "create_client", "clients", "client_count")
metered(botocore.session.Session, "__init__", None, "sessions")
breakdown = []

class Context:
    function_name = "ew-ack-handler"
    memory_limit_in_mb = 256
    aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ew-ack-handler"

before = set(sys.modules)
seconds, cpu, statuses, lazy = [], [], [], []
for event in events:
    start, start_cpu = time.perf_counter(), time.process_time()
    answer = app.handler(event, Context())
    seconds.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
    statuses.append(answer.get("statusCode"))
    lazy = lazy or sorted(set(sys.modules) - before)
    if profile_to and not breakdown:
        profiler.disable()
        profiler.dump_stats(profile_to)
    breakdown.append(dict(spent))
    spent.update(deps=0.0, clients=0.0, sessions=0, client_count=0)
names = set(sys.modules)
print("{MARK}" + json.dumps({{
    "import_s": t1 - t0,
    "import_cpu_s": c1 - c0,
    "clicks_s": seconds,
    "clicks_cpu_s": cpu,
    "statuses": statuses,
    "python": sys.version.split()[0],
    "lazy": lazy,
    "breakdown": breakdown,
    "compiled": compiled,
    "forbidden": sorted(m for m in names if m == {FORBIDDEN!r} or m.startswith({FORBIDDEN!r} + ".")),
}}))
"""


# The floor: the same click written with the libraries alone, none of our code, as lean as they allow.
# It imports what any Slack click handler on this stack imports (boto3, slack_sdk's WebClient, Powertools'
# Logger and Metrics), then per request: the signing secret (Secrets Manager, one client, kept), the
# signature check (slack_sdk), one DynamoDB read and one two-item transaction, the bot token, and
# chat.update (slack_sdk). What the real handler spends above this is ours to cut; the floor is not.
FLOOR_CHILD = f"""
import json, os, sys, time
c0 = time.process_time()
t0 = time.perf_counter()
from urllib.parse import parse_qs
import boto3
from aws_lambda_powertools import Logger, Metrics
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
logger, metrics = Logger(), Metrics()
t1 = time.perf_counter()
c1 = time.process_time()
events = json.loads(sys.stdin.read())
dynamodb = client = secrets = None
seconds, cpu, statuses = [], [], []
for event in events:
    start, start_cpu = time.perf_counter(), time.process_time()
    secrets = secrets or boto3.client("secretsmanager")
    secret = secrets.get_secret_value(SecretId=os.environ["EW_SLACK_SIGNING_SECRET"])["SecretString"]
    body = event["body"]
    ok = SignatureVerifier(secret).is_valid_request(body, event["headers"])
    payload = json.loads(parse_qs(body)["payload"][0])
    dynamodb = dynamodb or boto3.client("dynamodb")
    dynamodb.get_item(TableName=os.environ["EW_PINGS_TABLE"],
                      Key={{"item_id": {{"S": "FLOOR"}}, "chain_index": {{"N": "0"}}}})
    key = payload["actions"][0]["action_id"] + payload["container"]["message_ts"]
    dynamodb.transact_write_items(TransactItems=[
        {{"Put": {{"TableName": os.environ["EW_STATE_TABLE"],
                 "Item": {{"pk": {{"S": "floor#" + key}}, "sk": {{"S": "-"}}}}}}}},
        {{"Put": {{"TableName": os.environ["EW_AUDIT_TABLE"],
                 "Item": {{"item_id": {{"S": "FLOOR"}}, "ts": {{"S": key}}}}}}}},
    ])
    token = secrets.get_secret_value(SecretId=os.environ["EW_SLACK_TOKEN_SECRET"])["SecretString"]
    client = client or WebClient(token=token, base_url=os.environ["EW_SLACK_API_URL"].rstrip("/") + "/",
                                 timeout=2)
    client.chat_update(channel=payload["container"]["channel_id"], ts=payload["container"]["message_ts"],
                       text="Acknowledged", blocks=[])
    seconds.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
    statuses.append(200 if ok else 401)
print("{MARK}" + json.dumps({{
    "import_s": t1 - t0, "import_cpu_s": c1 - c0, "clicks_s": seconds, "clicks_cpu_s": cpu,
    "statuses": statuses,
}}))
"""


@dataclass
class FreshResult:
    import_s: list[float] = field(default_factory=list)
    import_cpu_s: list[float] = field(default_factory=list)
    first_cpu_s: list[float] = field(default_factory=list)
    python: str = ""
    first_s: list[float] = field(default_factory=list)
    second_s: list[float] = field(default_factory=list)
    first_deps_s: list[float] = field(default_factory=list)
    first_clients_s: list[float] = field(default_factory=list)
    sessions: int = 0
    clients: int = 0
    lazy: list[str] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)
    compiled: list[str] = field(default_factory=list)
    floor_s: list[float] = field(default_factory=list)  # FLOOR_CHILD's import + first request
    floor_cpu_s: list[float] = field(default_factory=list)
    instructions: dict[str, int] = field(default_factory=dict)  # whole process, one click: see counted()

    @property
    def cold_start_s(self) -> list[float]:
        return [i + f for i, f in zip(self.import_s, self.first_s, strict=True)]

    @property
    def cold_start_cpu_s(self) -> list[float]:
        return [i + f for i, f in zip(self.import_cpu_s, self.first_cpu_s, strict=True)]


def signed_event(payload: dict[str, Any]) -> dict[str, Any]:
    """The Function URL event of a Slack interactivity request, signed now (as LocalCloud.slack_click)."""
    from slack_sdk.signature import SignatureVerifier

    from ew_local.cloud import SIGNING_SECRET, function_url_event

    body = urlencode({"payload": json.dumps(payload)})
    timestamp = str(int(time.time()))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": SignatureVerifier(SIGNING_SECRET).generate_signature(
            timestamp=timestamp, body=body
        )
        or "",
    }
    return function_url_event("POST", "/slack/actions", body, headers, {}, False)


@dataclass(frozen=True)
class Interpreter:
    """How the cold containers run: this interpreter on the source tree (default), or another one on a
    built layer, as Lambda runs it: the function's code, then the layer (/opt/python), then the
    runtime's boto3 on sys.path; no .pyc written (Lambda's /opt is read-only); `site` skipped when the
    machine's own site-packages would import things Lambda's does not."""

    python: str = sys.executable
    layer: Path | None = None
    runtime: Path | None = None
    no_site: bool = False

    def flags(self) -> list[str]:
        return (["-B"] if self.layer else []) + (["-S"] if self.no_site else [])

    def env(self, base: dict[str, str]) -> dict[str, str]:
        if self.layer:
            paths = [FUNCTION, self.layer, *([self.runtime] if self.runtime else [])]
            base = {
                **base,
                "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            # Lambda has no pycache prefix: the .pyc are read beside the sources, in __pycache__.
            base.pop("PYTHONPYCACHEPREFIX", None)
        return base


def fresh_process(
    runs: int,
    interpreter: Interpreter = Interpreter(),
    settings: dict[str, str] | None = None,
    floor: bool = False,
    instructions: bool = False,
) -> FreshResult:
    """What a cold Lambda container does, end to end: a fresh interpreter imports app.py, then handles a
    first click (building its deps) and a second. Its AWS is LocalCloud's moto, served over localhost
    HTTP by a moto server thread in this process (same in-memory state), so the child's heap and
    modules are the handler's alone; Slack is LocalCloud's fake Slack. `floor`: after each container,
    one running FLOOR_CHILD on the same two clicks (interleaved, so both see the machine alike).
    `instructions`: then one of each (and a bare interpreter) under valgrind's callgrind, counted."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from ew_local.cloud import LocalCloud

    result = FreshResult()
    with LocalCloud(settings or SETTINGS) as cloud:
        payloads = alerts(cloud, 2 * runs + (2 if instructions else 0), "FRESH")
        server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request
        server.start()
        try:
            host, port = server.get_host_and_port()
            env = interpreter.env(lambda_env())  # inside LocalCloud: its names, secrets, fake Slack URL
            env["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
            for run in range(runs):
                events = [signed_event(p) for p in payloads[2 * run : 2 * run + 2]]
                seen = container(interpreter, FRESH_CHILD, env, events)
                result.import_s.append(seen["import_s"])
                result.import_cpu_s.append(seen["import_cpu_s"])
                result.first_cpu_s.append(seen["clicks_cpu_s"][0])
                result.python = seen["python"]
                result.first_s.append(seen["clicks_s"][0])
                result.second_s.append(seen["clicks_s"][1])
                first = seen["breakdown"][0]
                result.first_deps_s.append(first["deps"])
                result.first_clients_s.append(first["clients"])
                result.sessions, result.clients = first["sessions"], first["client_count"]
                result.lazy = seen["lazy"]
                result.compiled = sorted(set(result.compiled) | set(seen["compiled"]))
                result.forbidden = sorted(set(result.forbidden) | set(seen["forbidden"]))
                if floor:
                    low = container(interpreter, FLOOR_CHILD, env, events)
                    result.floor_s.append(low["import_s"] + low["clicks_s"][0])
                    result.floor_cpu_s.append(low["import_cpu_s"] + low["clicks_cpu_s"][0])
            if instructions:
                # One click each, so the count is start + import + first request + exit.
                # Signed just before each run: under valgrind a run takes minutes, and Slack's signature
                # is valid for five.
                ours, floors = payloads[2 * runs :]
                result.instructions = {
                    "python -c pass": counted(interpreter, None, env, []),
                    "ack-handler": counted(interpreter, FRESH_CHILD, env, [signed_event(ours)]),
                    "the libraries alone": counted(interpreter, FLOOR_CHILD, env, [signed_event(floors)]),
                }
        finally:
            server.stop()
        acked = {a.item_id for a in cloud.store.load()[1]}
        assert len(acked) == 2 * runs + (1 if instructions else 0), len(acked)
    return result


def container(
    interpreter: Interpreter,
    child: str,
    env: dict[str, str],
    events: list[dict[str, Any]],
    wrap: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run one cold-container child on `events`; what it printed after MARK (every click answered 200)."""
    done = subprocess.run(
        [*wrap, interpreter.python, *interpreter.flags(), "-c", child],
        cwd=FUNCTION,
        env=env,
        input=json.dumps(events),
        capture_output=True,
        text=True,
        check=False,
    )
    seen = marked_result(done, MARK, "cold-container")
    assert seen["statuses"] == [200] * len(events), seen["statuses"]
    return seen


def counted(
    interpreter: Interpreter, child: str | None, env: dict[str, str], events: list[dict[str, Any]]
) -> int:
    """Instructions the whole child process executes, counted by valgrind's callgrind: the same for the
    same code and inputs however busy or fast the machine is (its wall and CPU times are not)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        wrap = ("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}")
        if child is None:
            subprocess.run(
                [*wrap, interpreter.python, *interpreter.flags(), "-c", "pass"],
                env=env,
                capture_output=True,
                check=True,
            )
        else:
            container(interpreter, child, env, events, wrap)
        totals = [line for line in out.read_text().splitlines() if line.startswith(("totals:", "summary:"))]
        return int(totals[0].split()[1])


# -- 3. first request and per click, in this process, on LocalCloud -------------------------------------


class Meter:
    """Time and count spent in wrapped functions (not re-entrant: the outermost call counts)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._depth = 0

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._depth += 1
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.seconds += time.perf_counter() - start
                    self.calls += 1

        return timed

    def take(self) -> tuple[float, int]:
        taken = (self.seconds, self.calls)
        self.seconds, self.calls = 0.0, 0
        return taken


METERS = ("deps", "clients", "aws", "moto", "slack")


@contextmanager
def metered(meters: dict[str, Meter]) -> Iterator[None]:
    """Meter the deps build (the handler's deps()), boto3 client creation (the runtime's and Powertools'),
    AWS calls (client side + moto), moto's server side, and the Slack gateway's HTTP calls."""
    from botocore.client import BaseClient
    from botocore.session import Session
    from moto.core.botocore_stubber import BotocoreStubber

    from ew_local.cloud import load_handler
    from opskit.slack import SlackGateway

    targets: list[tuple[Any, str, Meter]] = [
        (load_handler("ack_handler"), "deps", meters["deps"]),
        (Session, "create_client", meters["clients"]),
        (BaseClient, "_make_api_call", meters["aws"]),
        (BotocoreStubber, "__call__", meters["moto"]),
        (SlackGateway, "_call", meters["slack"]),
    ]
    originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in targets]
    for owner, name, meter in targets:
        setattr(owner, name, meter.wrap(owner.__dict__[name]))
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


@dataclass
class Click:
    seconds: float
    deps_s: float
    clients_s: float
    clients: int
    aws_s: float
    aws_calls: int
    moto_s: float
    slack_s: float
    slack_calls: int


@dataclass
class ClickResult:
    first: Click
    cold: list[Click]
    warm: list[Click]
    google_imported: list[str]
    heap: int  # objects tracked by the GC at the first click
    gc_frozen: bool
    profiles: dict[str, str] = field(default_factory=dict)


def drop_caches() -> None:
    """Forget what a fresh Lambda container would not have: the runtime's settings, secrets, clients
    and Slack client, Powertools' parameter providers and values, boto3's default session."""
    import boto3

    from ew import runtime

    runtime.reset()
    boto3.DEFAULT_SESSION = None


def profile_text(profiler: cProfile.Profile, limit: int = 25) -> str:
    """The top functions by cumulative time, then by own time (cProfile inflates many small calls)."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


def clicks(n: int, cold_repeats: int, profile: bool, gc_freeze: bool) -> ClickResult:
    from ew_local.cloud import LocalCloud

    meters = {name: Meter() for name in METERS}
    profiles: dict[str, str] = {}
    with LocalCloud(SETTINGS) as cloud:
        payloads = alerts(cloud, 1 + cold_repeats + n, "BENCH")
        queue = iter(payloads)
        gc.collect()
        heap = len(gc.get_objects())
        if gc_freeze:
            gc.freeze()  # the setup's objects (moto, the alerts) are no longer scanned by collections

        def click(profiler: cProfile.Profile | None = None) -> Click:
            payload = next(queue)
            start = time.perf_counter()
            if profiler:
                profiler.enable()
            answer = cloud.slack_click(payload, run_tasks=False)
            if profiler:
                profiler.disable()
            seconds = time.perf_counter() - start
            assert answer["statusCode"] == 200, answer
            deps_s, _ = meters["deps"].take()
            clients_s, clients = meters["clients"].take()
            aws_s, aws_calls = meters["aws"].take()
            moto_s, _ = meters["moto"].take()
            slack_s, slack_calls = meters["slack"].take()
            return Click(seconds, deps_s, clients_s, clients, aws_s, aws_calls, moto_s, slack_s, slack_calls)

        google_before = {m for m in sys.modules if m.split(".")[0] == FORBIDDEN}
        with metered(meters):
            drop_caches()
            first_profiler = cProfile.Profile() if profile else None
            first = click(first_profiler)
            cold = []
            for _ in range(cold_repeats):
                drop_caches()
                cold.append(click())
            warm_profiler = cProfile.Profile() if profile else None
            warm = [click(warm_profiler) for _ in range(n)]
        gc.unfreeze()
        google_after = {m for m in sys.modules if m.split(".")[0] == FORBIDDEN}
        acked = len(cloud.store.load()[1])
        updated = len(cloud.slack.calls("chat.update"))
        expected = 1 + cold_repeats + n
        assert acked == expected and updated == expected, (acked, updated, expected)
        if first_profiler:
            profiles["first request"] = profile_text(first_profiler)
        if warm_profiler:
            profiles[f"{n} warm clicks"] = profile_text(warm_profiler)
    google = sorted(google_after - google_before)
    return ClickResult(first, cold, warm, google, heap, gc_freeze, profiles)


# -- report ---------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def spread(values: list[float], top: Callable[[list[float]], float] = p95) -> tuple[str, str, str]:
    return ms(min(values)), ms(statistics.median(values)), ms(top(values))


def row(cells: tuple[str, ...], widths: tuple[int, ...]) -> str:
    first, *rest = cells
    return "  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))])


def report(imports: ImportResult, fresh: FreshResult, result: ClickResult, load: str) -> str:
    widths = (46, 9, 9, 9)
    small = ("min ms", "median", "max")
    lines = [
        f"ack-handler, {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {load}",
        "",
        row(("1. cold import (fresh interpreter)", *small), widths),
        row((f"`import app`, {len(imports.import_s)} runs", *spread(imports.import_s, top=max)), widths),
        row(("  process wall: start + import + exit", *spread(imports.process_s, top=max)), widths),
        row(("  for scale: bare `python -c pass`", *spread(imports.bare_s, top=max)), widths),
        "",
        row((f"2. a cold container, end to end ({len(fresh.import_s)} processes)", *small), widths),
        *container_rows(fresh, widths),
        "  (moto served over localhost HTTP from the benchmark process; the fake Slack likewise)",
        "",
    ]
    columns = ("ms", "deps", "clients", "AWS", "moto", "Slack", "AWS calls")
    wide = (46, 8, 8, 8, 8, 8, 8, 10)

    def parts(c: Click) -> tuple[float, ...]:
        return (c.seconds, c.deps_s, c.clients_s, c.aws_s, c.moto_s, c.slack_s)

    def median_of(clicks: list[Click]) -> tuple[str, ...]:
        cells = [ms(statistics.median(parts(c)[i] for c in clicks)) for i in range(6)]
        return (*cells, f"{statistics.median(c.aws_calls for c in clicks):g}")

    first = result.first
    warm = [c.seconds for c in result.warm]
    lines += [
        row(("3. in-process LocalCloud (moto, fake Slack)", *columns), wide),
        row(("first request", *(ms(x) for x in parts(first)), str(first.aws_calls)), wide),
    ]
    if result.cold:
        lines.append(row((f"deps rebuilt, median of {len(result.cold)}", *median_of(result.cold)), wide))
    lines += [
        row((f"warm click, median of {len(result.warm)}", *median_of(result.warm)), wide),
        "  deps = deps() (clients, SSM + secrets reads, Slack client); clients = boto3 client",
        "  creation; AWS = boto3 calls, client side + moto; moto = moto's server side; Slack = chat.update",
        "  to the fake Slack over localhost HTTP. Columns overlap: deps holds clients and part of AWS.",
        "",
        row((f"warm click, {len(warm)} clicks", "min ms", "median", "p95"), widths),
        row(("per click (signed, through the handler)", *spread(warm)), widths),
        row(("  minus moto's server side", *spread([c.seconds - c.moto_s for c in result.warm])), widths),
        row(
            (
                "  minus moto and the Slack round trip",
                *spread([c.seconds - c.moto_s - c.slack_s for c in result.warm]),
            ),
            widths,
        ),
        "",
    ]
    total = statistics.median(fresh.cold_start_s)
    verdict = "met" if total < TARGET_S / 2 else ("NOT well under" if total < TARGET_S else "MISSED")
    slack = "met" if total < SLACK_DEADLINE_S else "MISSED"
    heavy = ", ".join(imports.loaded) or "-"
    lazy = ", ".join(fresh.lazy) or "none"
    forbidden = ", ".join(sorted(set(imports.forbidden) | set(fresh.forbidden))) or "not imported"
    during = ", ".join(result.google_imported) or "not imported"
    lines += [
        f"import + first request, median: {ms(total)} ms; target (well under {TARGET_S:g} s): {verdict};"
        f" Slack's {SLACK_DEADLINE_S:g} s: {slack}",
        f"modules after `import app`: {imports.modules}; heavy ones loaded: {heavy}",
        f"imported lazily by a cold container's first request: {lazy}",
        f"{FORBIDDEN}: after `import app` and the first two requests {forbidden};"
        f" during the in-process clicks {during}",
        f"GC heap at the in-process first click: {result.heap:,} tracked objects"
        f" ({'frozen, not scanned' if result.gc_frozen else 'all scanned by full collections'});"
        f" a fresh interpreter after `import app`: {imports.heap:,}",
        "",
        f"the {TOP} heaviest imports under `import app` (-X importtime, median of 3 runs)",
        row(("module", "cum ms", "self ms", ""), (*widths[:3], 0)) + "imported via",
    ]
    for name, cumulative, own, via in imports.heaviest:
        lines.append(row((name, ms(cumulative), ms(own), ""), (*widths[:3], 0)) + via)
    lines += [
        "",
        f"third-party packages by their own import time (top {TOP})",
        row(("package", "self ms", ""), (*widths[:2], 0)) + "first imported via",
    ]
    for package, own, via in imports.packages:
        lines.append(row((package, ms(own), ""), (*widths[:2], 0)) + via)
    for title, text in result.profiles.items():
        lines += ["", f"== cProfile: {title} ==", text.rstrip()]
    return "\n".join(lines)


# Lambda gives a function CPU in proportion to its memory: one full vCPU at 1,769 MB.
FULL_VCPU_MB = 1769
MEMORY_CHOICES = (256, 512, 1024, 1536, 1769)


def _template_memory_mb() -> int:
    """AckHandlerFunction's MemorySize in template.yaml, so the verdict follows the template."""
    import re

    block = (ROOT / "template.yaml").read_text().split("AckHandlerFunction:", 1)[1]
    return int(re.search(r"MemorySize:\s*(\d+)", block).group(1))  # type: ignore[union-attr]


BUDGET_S = 1.0  # the cold click's CPU work on Lambda, against Slack's 3 s: room left for the network


def container_rows(fresh: FreshResult, widths: tuple[int, ...]) -> list[str]:
    """The cold container's rows, from `import app` to import + first request (both reports)."""
    return [
        row(("`import app`", *spread(fresh.import_s, top=max)), widths),
        row(("first request", *spread(fresh.first_s, top=max)), widths),
        row(("  of which deps()", *spread(fresh.first_deps_s, top=max)), widths),
        row(
            (
                f"    of which {fresh.clients} boto3 clients in {fresh.sessions} sessions",
                *spread(fresh.first_clients_s, top=max),
            ),
            widths,
        ),
        row(("second request", *spread(fresh.second_s, top=max)), widths),
        row(("import + first request", *spread(fresh.cold_start_s, top=max)), widths),
    ]


def above_floor(fresh: FreshResult) -> float:
    return statistics.median(fresh.cold_start_s) - statistics.median(fresh.floor_s)


def layer_report(fresh: FreshResult, interpreter: Interpreter, settings: dict[str, str], load: str) -> str:
    widths = (46, 9, 9, 9)
    small = ("min ms", "median", "max")
    cpu = statistics.median(fresh.cold_start_cpu_s)
    lines = [
        f"ack-handler cold start from a built layer: Python {fresh.python} ({interpreter.python}), "
        f"{os.cpu_count()} cores, load average {load}",
        f"layer {interpreter.layer}, runtime boto3 {interpreter.runtime or '(layer)'}, "
        f"flags {' '.join(interpreter.flags()) or '-'}, settings {settings}",
        "",
        row((f"a cold container, end to end ({len(fresh.import_s)} processes)", *small), widths),
        *container_rows(fresh, widths),
        row(("  its CPU time (process_time)", *spread(fresh.cold_start_cpu_s, top=max)), widths),
        "  (moto and the fake Slack answer over localhost HTTP from the benchmark process)",
        *(
            [
                row(
                    ("the libraries alone (FLOOR_CHILD), same clicks", *spread(fresh.floor_s, top=max)),
                    widths,
                ),
                row(("  its CPU time (process_time)", *spread(fresh.floor_cpu_s, top=max)), widths),
                f"  ours above the floor: {ms(above_floor(fresh))} ms median (import + first request)",
            ]
            if fresh.floor_s
            else []
        ),
        *(
            [
                "",
                "instructions (callgrind) of a process that starts, imports, answers one click, exits:",
                *(f"  {name:<24} {count / 1e6:>9,.0f} M" for name, count in fresh.instructions.items()),
            ]
            if fresh.instructions
            else []
        ),
        "",
        f"the same CPU work on Lambda (CPU share = memory / {FULL_VCPU_MB:,} MB), median {ms(cpu)} ms here:",
    ]
    configured = _template_memory_mb()
    worst = max(fresh.cold_start_cpu_s)
    for memory in sorted({*MEMORY_CHOICES, configured}):
        there = cpu * FULL_VCPU_MB / min(memory, FULL_VCPU_MB)
        fits = "within" if there <= BUDGET_S else "over"
        mark = "  <- template.yaml" if memory == configured else ""
        lines.append(f"  {memory:>5} MB: about {ms(there)} ms of CPU, {fits} the {BUDGET_S:g} s budget{mark}")
    lines.append(
        f"  the slowest run here ({ms(worst)} ms) at {configured} MB: about "
        f"{ms(worst * FULL_VCPU_MB / min(configured, FULL_VCPU_MB))} ms"
    )
    packages: dict[str, int] = defaultdict(int)
    for name in fresh.lazy:
        packages[name.split(".")[0]] += 1
    lazy = ", ".join(f"{p} ({n} modules)" if n > 1 else p for p, n in sorted(packages.items()))
    lines.append(f"imported lazily by the first request: {lazy or 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="cold-import runs (default 7)")
    parser.add_argument("--fresh-runs", type=int, default=5, help="cold containers, end to end (default 5)")
    parser.add_argument("--clicks", type=int, default=200, help="warm clicks (default 200)")
    parser.add_argument("--cold-repeats", type=int, default=5, help="clicks after re-dropping caches")
    parser.add_argument("--profile", action="store_true", help="cProfile the first request and the clicks")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() the setup heap (moto, the alerts) before clicking: closer to a fresh container",
    )
    parser.add_argument(
        "--layer",
        type=Path,
        help="a built layer's python/ directory: run only the cold containers, from it (see --python)",
    )
    parser.add_argument("--python", default=sys.executable, help="the interpreter for --layer (python3.13)")
    parser.add_argument("--runtime", type=Path, help="boto3 for that interpreter (Lambda's runtime has it)")
    parser.add_argument("--no-site", action="store_true", help="run the cold containers with python -S")
    parser.add_argument("--holidays", help='a holiday region in the settings, e.g. "GB-ENG"')
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="with --layer: count the instructions of one cold click, ours and the floor (needs valgrind)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="with --layer: also time the same clicks written with the libraries alone (FLOOR_CHILD)",
    )
    args = parser.parse_args(argv)
    if min(args.runs, args.fresh_runs, args.clicks) < 1 or args.cold_repeats < 0:
        parser.error("--runs, --fresh-runs and --clicks must be at least 1, --cold-repeats at least 0")
    settings = {**SETTINGS, **({"holidays": args.holidays} if args.holidays else {})}

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.layer:
        interpreter = Interpreter(
            args.python, args.layer.resolve(), args.runtime and args.runtime.resolve(), args.no_site
        )
        print(f"cold containers from {args.layer}: {args.fresh_runs} ...", file=sys.stderr, flush=True)
        fresh = fresh_process(
            args.fresh_runs, interpreter, settings, floor=args.floor, instructions=args.instructions
        )
        print(layer_report(fresh, interpreter, settings, load))
        # The function's own code ships without .pyc (as `sam build` zips it); anything else compiled
        # from source means the layer or runtime was built wrong, and the figures are not Lambda's.
        stale = [path for path in fresh.compiled if not Path(path).is_relative_to(FUNCTION)]
        if stale:
            print(f"\nFAIL: {len(stale)} modules had no usable .pyc, e.g. {stale[:3]}", file=sys.stderr)
        return 1 if fresh.forbidden or stale else 0
    print(f"1. cold import: {args.runs} runs ...", file=sys.stderr, flush=True)
    imports = cold_import(args.runs)
    print(f"2. cold containers: {args.fresh_runs} ...", file=sys.stderr, flush=True)
    fresh = fresh_process(args.fresh_runs, settings=settings)
    count = 1 + args.cold_repeats + args.clicks
    print(f"3. in-process: dispatching {count} alerts, then clicking ...", file=sys.stderr, flush=True)
    result = clicks(args.clicks, args.cold_repeats, args.profile, args.gc_freeze)
    print(report(imports, fresh, result, load))
    if imports.forbidden or fresh.forbidden or result.google_imported:
        print(f"\nFAIL: {FORBIDDEN} is imported on the synchronous path (DESIGN.md §11)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
