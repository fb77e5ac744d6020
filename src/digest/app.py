"""digest: the week's pings, answers, upcoming and overdue items and sheet problems, posted once a week
to the digest channel (or emailed to the admin) (DESIGN.md §3)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ew import runtime
from ew.reporting import scheduled_at
from ew.weekly_digest import SENT, DigestDeps, digest_period, send_digest

logger = Logger()
metrics = Metrics()


def deps() -> DigestDeps:
    return DigestDeps(
        activity=runtime.activity_reader(),
        s3=runtime.client("s3"),
        ses=runtime.client("ses"),
        slack=runtime.slack(),
        state=runtime.state_table(),
        settings=runtime.settings(),
        clock=runtime.utc_now,
        registry_bucket=runtime.env("EW_REGISTRY_BUCKET"),
        rules_bucket=runtime.env("EW_RULES_BUCKET"),
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = scheduled_at(event)
    digest_deps = deps()
    # One id for every log line of this week's digest, retries included.
    logger.set_correlation_id(f"digest-{digest_period(now, digest_deps.settings.timezone).isoformat()}")
    result = send_digest(digest_deps, now)
    if result.status == SENT:
        metrics.add_metric(name="DigestSent", unit=MetricUnit.Count, value=1)
    if result.fell_back:
        metrics.add_metric(name="DigestFallbackToEmail", unit=MetricUnit.Count, value=1)
    logger.info("digest done", **result.as_dict())
    return result.as_dict()
