"""The renewal write-back (DESIGN.md §8): the new expiry and `last_renewed` go into the sheet row.

Runs in an asynchronous invocation of ack-handler, never on Slack's clock. The row is found by
`item_id` just before writing, and a row whose expiry changed since the click is left alone: the
person who clicked is told, and the audit trail says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any, Protocol

from ew.audit import AuditLog
from ew.message import human_date
from opskit.sheets import RowChanged, RowNotFound
from opskit.slack import SlackGateway, SlackUnavailable

log = logging.getLogger(__name__)


class Sheet(Protocol):
    def update_if_unchanged(
        self, key_column: str, key: str, expected: dict[str, str], changes: dict[str, str]
    ) -> int: ...


def write_renewal(
    task: dict[str, Any],
    sheet: Sheet,
    audit: AuditLog,
    slack: SlackGateway | None,
    clock: Callable[[], Any],
) -> str:
    """Returns "written" or "refused"; a Google failure raises (the async invoke retries, then DLQ)."""
    item_id, by = task["item_id"], task.get("by", "")
    old, new = date.fromisoformat(task["old_expiry"]), date.fromisoformat(task["new_expiry"])
    changes = {"expiry_date": new.isoformat(), "last_renewed": task["renewed_on"]}
    try:
        row = sheet.update_if_unchanged("item_id", item_id, {"expiry_date": old.isoformat()}, changes)
    except (RowChanged, RowNotFound) as exc:
        audit.record(item_id, "sheet_write_refused", by, {"expiry_date": old}, {"reason": str(exc)}, clock())
        _tell(slack, by, f"I could not write the renewal of {item_id} (new expiry {human_date(new)}) to the "
                         f"sheet: {exc}. Please update the row by hand.")  # fmt: skip
        return "refused"
    audit.record(item_id, "sheet_write", by, {"expiry_date": old}, {**changes, "row": row}, clock())
    return "written"


def _tell(slack: SlackGateway | None, user: str, text: str) -> None:
    if slack is None or not user or "@" in user:
        log.warning("%s", text)
        return
    try:
        slack.post(user, text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
    except SlackUnavailable as exc:
        log.warning("could not tell %s: %s (%s)", user, text, exc)
