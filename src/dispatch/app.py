"""dispatch: deliver one move as a Slack DM or an email, at a business minute (DESIGN.md §7, §9)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ew import runtime
from ew.correlation import ping_id
from ew.dispatching import DispatchDeps, dispatch

logger = Logger()
metrics = Metrics()


def deps() -> DispatchDeps:
    return DispatchDeps(
        store=runtime.chain_store(),
        s3=runtime.client("s3"),
        ses=runtime.client("ses"),
        scheduler=runtime.client("scheduler"),
        slack=runtime.slack(),
        settings=runtime.settings(),
        rules_bucket=runtime.env("EW_RULES_BUCKET"),
        link_secret=runtime.link_secret(),
        action_url=runtime.env("EW_ACTION_URL", ""),
        dispatch_arn=runtime.env("EW_DISPATCH_ARN"),
        scheduler_role_arn=runtime.env("EW_SCHEDULER_ROLE_ARN"),
        schedule_group=runtime.env("EW_SCHEDULE_GROUP", "default"),
        dlq_arn=os.environ.get("EW_DEFERRAL_DLQ_ARN") or None,
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(ping_id(event))
    outcome = dispatch(event, deps())
    metrics.add_metric(name=f"Pings_{outcome.status}", unit=MetricUnit.Count, value=1)
    if outcome.status == "sent":  # the dashboard's pings by channel
        metrics.add_metric(name=f"Sent_{outcome.channel}", unit=MetricUnit.Count, value=1)
    if outcome.fell_back:
        metrics.add_metric(name="SlackFallbackToEmail", unit=MetricUnit.Count, value=1)
    logger.info("dispatch done", **outcome.as_dict())
    return outcome.as_dict()
