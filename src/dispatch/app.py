"""dispatch: deliver one move as a Slack DM or an email, at a business minute (DESIGN.md §7, §9)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ew import runtime
from ew.correlation import ping_id
from ew.dispatching import LEASE_MARGIN, DispatchDeps, dispatch
from ew.store import ClaimHeld

logger = Logger()
metrics = Metrics()

# The clock claims, leases and business time are judged by. The local runner moves it to replay
# Lambda's retry timing (ew_local.cloud.LocalCloud.dispatch_async) instead of sleeping.
clock: Callable[[], datetime] = runtime.utc_now


def deps(lease: timedelta) -> DispatchDeps:
    return DispatchDeps(
        store=runtime.chain_store().with_clock(clock),
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
        dlq_arn=runtime.env("EW_DEFERRAL_DLQ_ARN", "") or None,
        registry_bucket=runtime.env("EW_REGISTRY_BUCKET"),
        lease=lease,
        clock=clock,
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(ping_id(event))
    # This invocation is certainly over when Lambda's timeout stops it: its claims are held until then.
    lease = timedelta(milliseconds=context.get_remaining_time_in_millis()) + LEASE_MARGIN
    try:
        outcome = dispatch(event, deps(lease))
    except ClaimHeld:
        # Another attempt may be sending this very ping: fail, so Lambda retries after its lease.
        metrics.add_metric(name="Pings_held", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name=f"Pings_{outcome.status}", unit=MetricUnit.Count, value=1)
    if outcome.status == "sent":  # the dashboard's pings by channel
        metrics.add_metric(name=f"Sent_{outcome.channel}", unit=MetricUnit.Count, value=1)
    if outcome.fell_back:
        metrics.add_metric(name="SlackFallbackToEmail", unit=MetricUnit.Count, value=1)
    # The recipient may be an email address: logs carry IDs only (DESIGN.md §9).
    logger.info("dispatch done", **{k: v for k, v in outcome.as_dict().items() if k != "recipient"})
    return outcome.as_dict()
