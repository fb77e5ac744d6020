"""What the weekly digest and the monthly summary share: the registry and voice doc they read, and
sending a report once per period however often its schedule fires (DESIGN.md §9)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ew.daily_tick import REGISTRY_KEY, read_object
from ew.items import Item, load_registry
from opskit.problems import DocumentError
from opskit.state import Done, Held, StateTable

log = logging.getLogger(__name__)

SENDING = "sending"


def scheduled_at(event: dict[str, Any] | None) -> datetime:
    """The schedule passes `<aws.scheduler.scheduled-time>`: a retried or late run still reports on
    the period it was meant for. A manual invoke without it runs for now."""
    scheduled = (event or {}).get("scheduled_time")
    return datetime.fromisoformat(str(scheduled).replace("Z", "+00:00")) if scheduled else datetime.now(UTC)


def registry_items(s3: Any, bucket: str, date_order: str | None) -> tuple[list[Item], list[str]]:
    """The registry's items and its problems in plain words. A registry that is missing or unusable is
    a problem to report, not a reason to send nothing."""
    data = read_object(s3, bucket, REGISTRY_KEY)
    if data is None:
        return [], [f"{REGISTRY_KEY} is not in the registry bucket yet: has drive-sync run?"]
    try:
        registry = load_registry(data, REGISTRY_KEY, date_order=date_order)
    except DocumentError as exc:
        return [], [str(p) for p in exc.problems]
    return registry.items, [str(p) for p in registry.problems]


@dataclass(frozen=True)
class OncePerPeriod:
    """A report's claim in the state table, as a lease (opskit.state): while the sender may still be
    running, a duplicate invocation raises Busy, so Lambda retries it later; once `lease` has passed
    (longer than the function's timeout) the retry of a crashed run takes over. Run the send inside
    `state.holding(held)`: a failed send gives the claim back, so the retry sends."""

    state: StateTable
    report: str  # "digest", "summary"
    lease: timedelta
    keep: timedelta  # how long "sent" is remembered (the table's TTL)

    def start(self, period: str, now: datetime) -> Held | None:
        """Held: this call sends the report for `period`. None: it was sent already."""
        claimed = self.state.claim(
            self.report, period, {"status": SENDING}, now, lease=self.lease, keep=self.keep
        )
        return None if isinstance(claimed, Done) else claimed
