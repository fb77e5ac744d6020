"""daily-tick: decide today's moves and put them on the default bus (DESIGN.md §3, §6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ew import runtime
from ew.daily_tick import TickDeps, run_tick

logger = Logger()
metrics = Metrics()


def tick_time(event: dict[str, Any]) -> datetime:
    """The schedule passes `<aws.scheduler.scheduled-time>`: a retried or late run still ticks for the
    day it was meant for. A manual invoke without it ticks now."""
    scheduled = (event or {}).get("scheduled_time")
    return datetime.fromisoformat(scheduled.replace("Z", "+00:00")) if scheduled else datetime.now(UTC)


def deps() -> TickDeps:
    return TickDeps(
        s3=runtime.client("s3"),
        events=runtime.client("events"),
        store=runtime.chain_store(),
        registry_bucket=runtime.env("EW_REGISTRY_BUCKET"),
        rules_bucket=runtime.env("EW_RULES_BUCKET"),
        settings=runtime.settings(),
        source=runtime.env("EW_EVENT_SOURCE"),
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(f"tick-{tick_time(event).isoformat()}")
    report = run_tick(deps(), tick_time(event))
    # The heartbeat (template.yaml DailyTickHeartbeatAlarm): reached only when the whole tick succeeded.
    metrics.add_metric(name="TickCompleted", unit=MetricUnit.Count, value=1)
    for move, count in report.moves.items():
        metrics.add_metric(name=f"Moves_{move}", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="RowsSkipped", unit=MetricUnit.Count, value=report.rows_skipped)
    for problem in report.skipped:
        logger.warning("a problem in the sheet", problem=problem)
    logger.info("tick done", **report.as_dict())
    return report.as_dict()
