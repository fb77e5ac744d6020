"""Does a 100,000-row sheet sync inside drive-sync's memory and timeout? (issue 9; DriveSyncFunction in
template.yaml: MemorySize and Timeout are read from there.)

    make bench-drive-sync                              # 100,000 rows, about 3 minutes
    uv run python benchmarks/drive_sync.py --rows 10000
    uv run python benchmarks/drive_sync.py --profile   # adds cProfile of the changed-sheet run

Nothing leaves the machine. The sheet (benchmarks/daily_tick.py's generated registry: realistic spread,
~0.5% bad rows) and the two docs sit in LocalCloud's Google stand-in; AWS is LocalCloud's moto, served
over localhost HTTP by a moto server thread in this process (same in-memory state). Each run is the
real handler (src/drive_sync/app.py) in a fresh interpreter, as a cold Lambda container runs it, with
the layer first on sys.path; so its peak RSS is the function's own (the stand-ins live in this process).

Three runs, in order:
1. first sync: nothing in the buckets yet; everything is read, checked and written;
2. unchanged: the sheet as it was (what almost every 15-minute run sees): read, checked, nothing written;
3. one cell changed: one expiry moved a year later; the registry is written again, and the registry in
   force is read back and parsed to find renewals (the heaviest path).

Reported per run: wall time of the handler call, the child's CPU time, the time the Google stand-in
spent building its answer (in this process: not the function's work, and real Google's own time is not
known here), the values.get answer's size, peak RSS of the child (ru_maxrss) and the S3 writes.
The verdict scales the CPU time to the function's vCPU share (Lambda: one vCPU at 1,769 MB).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from children import marked_result  # benchmarks/children.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "shared"
FUNCTION = ROOT / "src" / "drive_sync"
FULL_VCPU_MB = 1769
MB = 1024 * 1024
MARK = "@@drive-sync-bench@@ "


def _function_setting(name: str) -> int:
    block = (ROOT / "template.yaml").read_text().split("DriveSyncFunction:", 1)[1]
    return int(re.search(rf"{name}:\s*(\d+)", block).group(1))  # type: ignore[union-attr]


MEMORY_MB = _function_setting("MemorySize")
TIMEOUT_S = _function_setting("Timeout")

CHILD = f"""
import json, resource, sys, time
started = time.perf_counter()
import app
imported = time.perf_counter() - started
from ew import drive_sync, sync_plan
from opskit import google_docs

phases = {{}}
def timed(owner, name, label):
    real = getattr(owner, name)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            phases[label] = phases.get(label, 0.0) + time.perf_counter() - t
    setattr(owner, name, wrapper)

timed(drive_sync, "read_sheet", "read the sheet (values.get + JSON)")
timed(sync_plan, "grid_csv", "grid to CSV")
timed(sync_plan, "load_registry", "check rows (load_registry)")
timed(drive_sync, "_record_renewals", "find renewals (registry in force read + parsed)")
timed(drive_sync, "_put_if_changed", "S3: compare hashes, write")

class Context:
    function_name = "ew-drive-sync"
    memory_limit_in_mb = {MEMORY_MB}
    aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ew-drive-sync"
    def get_remaining_time_in_millis(self):
        return {TIMEOUT_S} * 1000

profile = "--profile" in sys.argv
if profile:
    import cProfile, pstats, io
    profiler = cProfile.Profile()
    profiler.enable()
cpu0 = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
report = app.handler({{"scheduled_time": "2026-11-23T08:15:00Z"}}, Context())
wall = time.perf_counter() - t
cpu1 = resource.getrusage(resource.RUSAGE_SELF)
text = ""
if profile:
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    text = out.getvalue()
print({MARK!r} + json.dumps({{
    "import_s": imported,
    "wall_s": wall,
    "cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
    "maxrss_kb": cpu1.ru_maxrss,
    "phases": phases,
    "report": report,
    "profile": text,
}}))
"""


@dataclass
class Run:
    name: str
    wall_s: float
    cpu_s: float
    import_s: float
    maxrss_mb: float
    fake_google_s: float
    answer_mb: float
    written: list[str]
    phases: dict[str, float]
    profile: str = ""


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "PYTHONSTARTUP"))}
    env.update(
        PYTHONPATH=f"{LAYER}{os.pathsep}{FUNCTION}",
        AWS_LAMBDA_FUNCTION_NAME="ew-drive-sync",
        POWERTOOLS_LOG_LEVEL="ERROR",
    )
    return env


def run_child(name: str, env: dict[str, str], meter: dict[str, float], profile: bool) -> Run:
    meter.update(seconds=0.0, bytes=0.0)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *(["--profile"] if profile else [])],
        cwd=FUNCTION,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seen = marked_result(done, MARK, "drive-sync")
    report = seen["report"]
    assert not report["failed"] and not report["kept_out"], report
    return Run(
        name,
        seen["wall_s"],
        seen["cpu_s"],
        seen["import_s"],
        seen["maxrss_kb"] / 1024,
        meter["seconds"],
        meter["bytes"] / MB,
        report["written"],
        seen["phases"],
        seen["profile"],
    )


def measure(rows: int, profile: bool) -> tuple[list[Run], int]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from daily_tick import RULES_TEXT, make_registry  # the tick benchmark's generated registry
    from ew_local import fake_google
    from ew_local.cloud import SHEET_ID, SHEET_TAB, LocalCloud

    registry = make_registry(rows)
    meter: dict[str, float] = {"seconds": 0.0, "bytes": 0.0}
    real_values_get = fake_google.FakeGoogle._values_get

    def metered(self: Any, params: dict[str, str], call: Any) -> Any:
        started = time.perf_counter()
        answer = real_values_get(self, params, call)
        meter["seconds"] += time.perf_counter() - started
        meter["bytes"] += len(json.dumps(answer))
        return answer

    fake_google.FakeGoogle._values_get = metered
    voice = "[first_alert]\nHeads up: {item} runs out on {expiry_date}.\n"
    settings = {"timezone": "Europe/London", "admin": "ops@acme.example"}
    runs: list[Run] = []
    with LocalCloud(settings, slack_users={"ops@acme.example": "U04OPS0001"}) as cloud:
        cloud.publish(registry, RULES_TEXT, voice)
        server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server.start()
        try:
            host, port = server.get_host_and_port()
            env = child_env()
            env["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
            runs.append(run_child("1. first sync", env, meter, False))
            runs.append(run_child("2. unchanged", env, meter, False))
            header, *grid = cloud.google.rows(SHEET_ID, SHEET_TAB)
            column = header.index("expiry_date")
            row = next(r for r in grid if r[column][:4].isdigit() and r[column][4:5] == "-")
            row[column] = f"{int(row[column][:4]) + 1}{row[column][4:]}"
            cloud.google.add_sheet(SHEET_ID, SHEET_TAB, [header, *grid])
            runs.append(run_child("3. one cell changed", env, meter, profile))
        finally:
            server.stop()
        assert cloud.versions("registry.csv") == 2, cloud.versions("registry.csv")
    return runs, len(registry)


def report(rows: int, size: int, runs: list[Run]) -> str:
    share = min(MEMORY_MB / FULL_VCPU_MB, 1.0)
    lines = [
        f"drive-sync over a {rows:,}-row sheet ({size / MB:.1f} MB as CSV); the function has {MEMORY_MB} MB "
        f"(~{share:.2f} vCPU) and {TIMEOUT_S} s",
        "",
        "| run | wall | child CPU | of wall: Google stand-in building its answer | values.get answer | "
        "peak RSS | written |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.name} | {r.wall_s:.1f} s | {r.cpu_s:.1f} s | {r.fake_google_s:.1f} s | "
            f"{r.answer_mb:.1f} MB | {r.maxrss_mb:.0f} MB | {', '.join(r.written) or 'nothing'} |"
        )
    lines += ["", "Phases of each run (inside the handler, wall time):"]
    for r in runs:
        lines.append(f"- {r.name}: " + "; ".join(f"{k} {v:.1f} s" for k, v in r.phases.items()))
    worst = max(runs, key=lambda r: r.cpu_s)
    lambda_s = worst.cpu_s / share
    lines += [
        "",
        f"Cold import of the handler: {min(r.import_s for r in runs):.2f} s.",
        f"Verdict: the heaviest run used {worst.cpu_s:.1f} s of CPU here, about {lambda_s:.0f} s at "
        f"{share:.2f} vCPU, plus Google's own answer time, against a {TIMEOUT_S} s timeout; peak RSS "
        f"{max(r.maxrss_mb for r in runs):.0f} MB of {MEMORY_MB} MB.",
    ]
    if worst.profile:
        lines += ["", "cProfile of the changed-sheet run:", worst.profile]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    runs, size = measure(args.rows, args.profile)
    print(report(args.rows, size, runs))
    if args.json:
        data = [{**r.__dict__, "profile": None} for r in runs]
        Path(args.json).write_text(json.dumps({"rows": args.rows, "runs": data}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
