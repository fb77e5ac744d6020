"""What the operator sees of real runs: the JSON log lines and the metrics (embedded metric format) the
handlers print, on the local cloud."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ew.daily_tick import TickError
from ew.items import load_registry
from ew_local.cloud import LINK_SECRET, SIGNING_SECRET, LambdaContext, LocalCloud, load_handler

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
LONDON = ZoneInfo("Europe/London")
SETTINGS = {
    "timezone": "Europe/London",
    "holidays": "GB-ENG",
    "admin": "ops@acme.example",
    "digest_channel": "C0EWDIGEST",
    "summary_recipients": "ceo@acme.example",
}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


@contextmanager
def verbose(*functions: str) -> Iterator[io.StringIO]:
    """INFO logs from these handlers (the local cloud usually keeps them quiet), as Lambda would write
    them (the handlers' own JSON formatter), into the stream yielded; metrics printed to stdout."""
    loggers = [load_handler(f).logger for f in functions]
    levels = [logger.log_level for logger in loggers]
    saved = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(loggers[0].registered_formatter)
    shared = logging.getLogger(loggers[0].service)  # Powertools' logger for the service, all handlers'
    shared.addHandler(capture)
    for logger in loggers:
        logger.setLevel("INFO")
    for function in functions:
        # With metrics disabled (the local cloud's default) Powertools never flushes, so earlier runs'
        # metrics are still waiting: start from none.
        load_handler(function).metrics.clear_metrics()
    try:
        yield stream
    finally:
        shared.removeHandler(capture)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        if saved is None:
            os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
        else:
            os.environ["POWERTOOLS_METRICS_DISABLED"] = saved


def flushed(capfd: pytest.CaptureFixture[str]) -> str:
    """What the handlers wrote: on Lambda their stdout is the log; the local cloud sends a handler's
    stdout to stderr (its own stdout is the command's output)."""
    out, err = capfd.readouterr()
    return out + "\n" + err


def printed(captured: str) -> list[dict[str, Any]]:
    lines = [line for line in captured.splitlines() if line.startswith("{")]
    return [json.loads(line) for line in lines]


def emf_metrics(lines: list[dict[str, Any]]) -> list[tuple[str, str, list[str], float]]:
    """(namespace, metric, dimension names, value) of every metric printed in embedded metric format."""
    found = []
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                dimensions = [d for group in directive["Dimensions"] for d in group]
                value = line[metric["Name"]]  # a list when the same metric was added more than once
                total = sum(value) if isinstance(value, list) else value
                found.append((directive["Namespace"], metric["Name"], dimensions, total))
    return found


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(SETTINGS) as local:
        yield local


def test_a_completed_tick_emits_the_heartbeat_and_a_failed_one_does_not(cloud: LocalCloud, capfd) -> None:
    monday = datetime.combine(date(2026, 11, 23), time(8), LONDON)
    with verbose("daily_tick", "dispatch"):
        with pytest.raises(TickError, match=r"registry\.csv is not in the registry bucket yet"):
            cloud.tick(monday)
        failed = emf_metrics(printed(flushed(capfd)))
        cloud.mirror((EXAMPLE / "registry.csv").read_bytes(), (EXAMPLE / "rules.txt").read_bytes())
        cloud.tick(monday)
        lines = printed(flushed(capfd))
    assert not [m for m in failed if m[1] == "TickCompleted"]
    metrics = emf_metrics(lines)
    # What template.yaml's heartbeat alarm watches: this namespace, metric and service dimension.
    assert ("ExpiryWatcher", "TickCompleted", ["service"], 1.0) in metrics
    assert next(line for line in lines if "TickCompleted" in line)["service"] == "expiry-watcher"
    sent = sum(value for _, name, _, value in metrics if name.startswith("Sent_"))
    assert sent == sum(value for _, name, _, value in metrics if name == "Pings_sent") == 11


def test_logs_carry_ids_never_secrets_addresses_or_item_names(cloud: LocalCloud, capfd) -> None:
    cloud.mirror(*((EXAMPLE / n).read_bytes() for n in ("registry.csv", "rules.txt", "voice.txt")))
    with verbose("daily_tick", "dispatch", "digest", "summary") as logs:
        cloud.tick(datetime.combine(date(2026, 11, 23), time(8), LONDON))
        digest = datetime.combine(date(2026, 11, 29), time(18), LONDON).isoformat()
        load_handler("digest").handler({"scheduled_time": digest}, LambdaContext("ew-digest"))
        summary = datetime.combine(date(2026, 12, 7), time(9), LONDON).isoformat()
        load_handler("summary").handler({"scheduled_time": summary}, LambdaContext("ew-summary", 512))
    lines = printed(logs.getvalue())

    by_function: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_function.setdefault(line["function_name"], []).append(line)
    assert {"ew-daily-tick", "ew-dispatch", "ew-digest", "ew-summary"} <= set(by_function)
    # Every line of one piece of work carries its id: the tick's time, the ping, the week, the month.
    assert {line["correlation_id"] for line in by_function["ew-daily-tick"]} == {
        "tick-2026-11-23T08:00:00+00:00"
    }
    assert {line["correlation_id"] for line in by_function["ew-digest"]} == {"digest-2026-11-29"}
    assert {line["correlation_id"] for line in by_function["ew-summary"]} == {"summary-2026-11"}
    assert {line["correlation_id"] for line in by_function["ew-dispatch"]} >= {"ACME-002#2026-12-15#0"}

    items = [item.item for item in load_registry((EXAMPLE / "registry.csv").read_bytes()).items]
    secrets = ["xoxb-local-demo-token", SIGNING_SECRET, LINK_SECRET, "PRIVATE KEY"]
    for function in ("ew-daily-tick", "ew-dispatch", "ew-digest", "ew-summary"):
        text = json.dumps(by_function[function])
        assert not EMAIL.findall(text), function
        assert not [s for s in secrets if s in text], function
        assert not [name for name in items if name in text], function


def test_the_local_cloud_never_prints_metrics_it_disabled(cloud: LocalCloud, capsys) -> None:
    # Powertools prints a metric set once one metric holds 100 values, even with metrics disabled;
    # `ew simulate --json` must not find that blob among its deliveries.
    rows = "".join(f"M-{n:03d},Permit {n},2026-12-01,U04OPS{n:04d}\n" for n in range(105))
    cloud.mirror(
        ("item_id,item,expiry_date,owner\n" + rows).encode(), b"[default]\nfirst alert: 30 days before\n"
    )
    _, outcomes = cloud.tick(datetime.combine(date(2026, 11, 23), time(8), LONDON))
    assert len(outcomes) == 105
    assert "_aws" not in capsys.readouterr().out
