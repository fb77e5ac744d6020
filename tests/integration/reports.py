"""The weekly digest and the monthly summary run as their schedules start them, on a LocalCloud, at a
moment of the test's choosing (shared by the report tests)."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

from ew import runtime
from ew_local.cloud import LambdaContext, load_handler

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
LONDON = ZoneInfo("Europe/London")


def digest(day: date) -> dict[str, Any]:
    """The digest as its schedule starts it, Sunday 18:00 of `day` (London)."""
    moment = datetime.combine(day, time(18), LONDON)
    with patch.object(runtime, "utc_now", lambda: moment):
        result: dict[str, Any] = load_handler("digest").handler(
            {"scheduled_time": moment.isoformat()}, LambdaContext("ew-digest")
        )
    return result


def summary(moment: datetime) -> dict[str, Any]:
    """The monthly summary as its schedule starts it at `moment`."""
    with patch.object(runtime, "utc_now", lambda: moment):
        result: dict[str, Any] = load_handler("summary").handler(
            {"scheduled_time": moment.isoformat()}, LambdaContext("ew-summary", 512)
        )
    return result
