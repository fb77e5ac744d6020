"""One-off EventBridge Scheduler schedules ("call this target once, at that time").

The time is written as local wall time plus the timezone name, not as UTC: Scheduler then resolves it
itself, and a "08:00" stays 08:00 on the clock across daylight-saving changes. Schedules delete
themselves after running, so nothing piles up in the account.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError

from opskit.events import dumps

MAX_NAME = 64  # Scheduler names: 1-64 characters of [0-9a-zA-Z-_.]
_NAME_OK = re.compile(r"[0-9A-Za-z_.-]+")
_NAME_BAD_RUN = re.compile(r"[^0-9A-Za-z_.-]+")
_HASH_LEN = 12

# A deferred message that cannot reach its target should be retried for a while, then go to the DLQ
# (if given) where an alarm sees it. Scheduler's own default is 185 tries over 24 hours.
DEFAULT_RETRY_POLICY: Mapping[str, int] = {"MaximumRetryAttempts": 20, "MaximumEventAgeInSeconds": 6 * 3600}


def schedule_name(*parts: str) -> str:
    """A valid, deterministic schedule name from `parts` joined with "-".

    Names that are already valid are kept as they are. Otherwise invalid characters become "-", the text is
    cut to fit, and a hash of the original text is appended, so two different inputs never end up with the
    same name (which would make the second schedule look like a duplicate and be skipped)."""
    joined = "-".join(parts)
    if not joined:
        raise ValueError("a schedule name needs at least one non-empty part")
    if len(joined) <= MAX_NAME and _NAME_OK.fullmatch(joined):
        return joined
    digest = hashlib.sha256(joined.encode("utf-8")).hexdigest()[:_HASH_LEN]
    cleaned = _NAME_BAD_RUN.sub("-", joined)[: MAX_NAME - _HASH_LEN - 1]
    return f"{cleaned}-{digest}"


def at_expression(at: datetime, timezone: str) -> str:
    """`at(YYYY-MM-DDTHH:MM:SS)` in the wall time of `timezone` for the aware instant `at`."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("the schedule time must carry a timezone (an aware datetime)")
    local = at.astimezone(ZoneInfo(timezone))
    return f"at({local:%Y-%m-%dT%H:%M:%S})"


def schedule_once(
    client: Any,
    name: str,
    at: datetime,
    timezone: str,
    target_arn: str,
    role_arn: str,
    payload: Mapping[str, Any],
    group: str = "default",
    dlq_arn: str | None = None,
    *,
    retry_policy: Mapping[str, int] = DEFAULT_RETRY_POLICY,
) -> bool:
    """Create a schedule that calls `target_arn` once at `at` with `payload` as its JSON input.

    Returns False when a schedule with this name already exists in the group: callers run at least once,
    and a deterministic `name` (see `schedule_name`) makes the retry harmless. Other errors propagate."""
    target: dict[str, Any] = {
        "Arn": target_arn,
        "RoleArn": role_arn,
        "Input": dumps(payload),
        "RetryPolicy": dict(retry_policy),
    }
    if dlq_arn:
        target["DeadLetterConfig"] = {"Arn": dlq_arn}
    try:
        client.create_schedule(
            Name=name,
            GroupName=group,
            ScheduleExpression=at_expression(at, timezone),
            ScheduleExpressionTimezone=timezone,
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Target=target,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConflictException":
            return False
        raise
    return True
