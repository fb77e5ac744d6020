"""drive-sync: mirror the registry sheet and the rules and voice docs into the source buckets, only
when changed and only when they read (DESIGN.md §3, §5). Scheduler runs it every 15 minutes."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ew import runtime
from ew.admin import AdminChannel
from ew.drive_sync import DriveSyncDeps, run_sync
from opskit.google_api import DRIVE_READONLY, SHEETS_READONLY, Retry
from opskit.notices import Notices

logger = Logger()
metrics = Metrics()

# Time kept back from the Lambda timeout for what follows the last Google call (S3 writes, the
# admin's message, the renewed chains): retries stop waiting this long before the end.
RESERVE_SECONDS = 20


class SyncIncomplete(RuntimeError):
    """Google did not answer for some document within the retries: tried again next run."""


def deps(context: LambdaContext | None) -> DriveSyncDeps:
    settings = runtime.settings()
    slack = runtime.slack()
    state = runtime.state_table()
    admin = AdminChannel(settings, slack, runtime.client("ses"), runtime.env("EW_CONFIG_PATH", "/ew/config/"))
    left = context.get_remaining_time_in_millis() / 1000 if context is not None else 300
    return DriveSyncDeps(
        s3=runtime.client("s3"),
        registry_bucket=runtime.env("EW_REGISTRY_BUCKET"),
        rules_bucket=runtime.env("EW_RULES_BUCKET"),
        settings=settings,
        google=lambda: runtime.google_session([SHEETS_READONLY, DRIVE_READONLY], timeout=30),
        retry=Retry(deadline=time.monotonic() + max(left - RESERVE_SECONDS, 1)),
        notices=Notices(state, admin.tell, runtime.utc_now),
        store=runtime.chain_store(),
        state=state,
        audit=runtime.audit_log(),
        slack=slack,
        clock=runtime.utc_now,
        config_path=runtime.env("EW_CONFIG_PATH", "/ew/config/"),
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = run_sync(deps(context), runtime.utc_now())
    metrics.add_metric(name="SyncWrites", unit=MetricUnit.Count, value=len(report.written))
    metrics.add_metric(name="DocumentsKeptOut", unit=MetricUnit.Count, value=len(report.kept_out))
    metrics.add_metric(name="RowsSkipped", unit=MetricUnit.Count, value=report.rows_skipped)
    logger.info("drive-sync done", **report.as_dict())
    if report.failed:
        # The Errors alarm sees a failure that lasts (three hours running); one missed run is not news.
        raise SyncIncomplete(f"Google did not answer in time for: {', '.join(report.failed)}")
    return report.as_dict()
