"""calendar-sync: `#expires` events in the configured Google Calendars become proposal cards in the
intake channel (DESIGN.md §3, §8). Scheduler runs it every hour."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ew import runtime
from ew.admin import AdminChannel
from ew.calendar_sync import CalendarSyncDeps, run_calendar_sync
from opskit.google_api import CALENDAR_READONLY, Retry
from opskit.notices import Notices

logger = Logger()
metrics = Metrics()

RESERVE_SECONDS = 15  # kept back from the timeout for posting and recording after the last read


class SyncIncomplete(RuntimeError):
    """A calendar could not be read (or a card posted) this time: read again next run."""


def deps(context: LambdaContext | None) -> CalendarSyncDeps:
    settings = runtime.settings()
    slack = runtime.slack()
    state = runtime.state_table()
    config_path = runtime.env("EW_CONFIG_PATH", "/ew/config/")
    admin = AdminChannel(settings, slack, runtime.client("ses"), config_path)
    left = context.get_remaining_time_in_millis() / 1000 if context is not None else 60
    return CalendarSyncDeps(
        state=state,
        slack=slack,
        settings=settings,
        google=lambda: runtime.google_session([CALENDAR_READONLY]),
        retry=Retry(deadline=time.monotonic() + max(left - RESERVE_SECONDS, 1)),
        notices=Notices(state, admin.tell, runtime.utc_now),
        clock=runtime.utc_now,
        config_path=config_path,
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = run_calendar_sync(deps(context), runtime.utc_now())
    metrics.add_metric(name="ProposalsFromCalendars", unit=MetricUnit.Count, value=len(report.proposed))
    logger.info("calendar-sync done", **report.as_dict())
    if report.failed:
        raise SyncIncomplete(f"not read this time (tried again next run): {', '.join(report.failed)}")
    return report.as_dict()
