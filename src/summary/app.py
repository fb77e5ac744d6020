"""summary: last month's figures and a board paragraph (Claude Haiku 4.5 on Bedrock, every number
checked against the figures, else a plain paragraph), emailed once a month (DESIGN.md §3)."""

from __future__ import annotations

from functools import partial
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ew import runtime
from ew.monthly_summary import MODEL_ID, SENT, SummaryDeps, send_summary, summary_month
from ew.reporting import scheduled_at
from opskit.converse import converse_text

logger = Logger()
metrics = Metrics()


def deps() -> SummaryDeps:
    return SummaryDeps(
        activity=runtime.activity_reader(with_sheet_renewals=True),
        s3=runtime.client("s3"),
        ses=runtime.client("ses"),
        state=runtime.state_table(),
        settings=runtime.settings(),
        clock=runtime.utc_now,
        registry_bucket=runtime.env("EW_REGISTRY_BUCKET"),
        model=partial(converse_text, runtime.bedrock_runtime(), runtime.env("EW_SUMMARY_MODEL_ID", MODEL_ID)),
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary_deps = deps()
    month = summary_month(event, scheduled_at(event), summary_deps.settings.timezone)
    # One id for every log line of this month's summary, retries included.
    logger.set_correlation_id(f"summary-{month.isoformat()[:7]}")
    result = send_summary(summary_deps, month)
    if result.status == SENT:
        metrics.add_metric(name="SummarySent", unit=MetricUnit.Count, value=1)
        if result.fallback:
            metrics.add_metric(name="SummaryFallback", unit=MetricUnit.Count, value=1)
    logger.info("summary done", **result.as_dict())
    return result.as_dict()
