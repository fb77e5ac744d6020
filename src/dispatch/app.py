"""dispatch: deliver one move as a Slack DM or an email, at a business minute (DESIGN.md §7, §9)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ew import runtime
from ew.dispatching import dispatch

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = dispatch(event, runtime.dispatch_deps())
    metrics.add_metric(name=f"Pings_{outcome.status}", unit=MetricUnit.Count, value=1)
    if outcome.fell_back:
        metrics.add_metric(name="SlackFallbackToEmail", unit=MetricUnit.Count, value=1)
    logger.info("dispatch done", **outcome.as_dict())
    return outcome.as_dict()
