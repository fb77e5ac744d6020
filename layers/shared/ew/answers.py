"""Recording an owner's answer to a ping, once (DESIGN.md §8, §9): the service behind every click.

A Slack button, a Slack modal and an email link all end in `act`: the ack, the audit row and, for a
renewal, the closed chain and the sheet write-back (later, in an asynchronous invocation, so Slack gets
its answer within 3 seconds however slow Google is). Each answer acts once (a conditional put in the
state table), whoever clicks twice and however often Slack retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ew import click_rules
from ew.audit import AuditLog
from ew.chain import RENEW, SNOOZE, Ack, PingRef
from ew.settings import Settings
from ew.store import ChainStore
from opskit.http_answer import HttpAnswer
from opskit.slack import SlackGateway, SlackUnavailable, text_section
from opskit.state import StateTable

log = logging.getLogger(__name__)

SHEET_TASK = "sheet_renewal"  # the asynchronous write-back of a renewal
APPEND_TASK = "sheet_append"  # the asynchronous append of an approved proposal


@dataclass
class AckDeps:
    store: ChainStore
    audit: AuditLog
    state: StateTable
    slack: SlackGateway | None
    signing_secret: str
    link_secret: bytes | None
    settings: Settings
    defer: Callable[[dict[str, Any]], None]  # runs a task in an asynchronous invocation
    clock: Callable[[], datetime]

    def today(self) -> date:
        return self.clock().astimezone(ZoneInfo(self.settings.timezone)).date()


@dataclass(frozen=True)
class Acted:
    first: bool  # False: someone acted before; `line` says who and what
    line: str


def act(deps: AckDeps, ref: PingRef, action: str, by: str, value: date | None) -> Acted:
    """Record one answer to one ping: the ack, the audit row, and for a renewal the closed chain and
    the sheet write-back (later, asynchronously)."""
    now = deps.clock()
    today = deps.today()
    # A renewal closes the whole cycle, so it is once per cycle; the others once per ping.
    sk = RENEW if action == RENEW else f"{ref.chain_index}#{action}"
    record = {
        "action": action,
        "by": by,
        "on": today.isoformat(),
        "value": value.isoformat() if value else None,
    }
    done = deps.state.claim(f"act#{ref.item_id}#{ref.cycle_expiry.isoformat()}", sk, record, now)
    if done is not None:
        first = done.data
        when = date.fromisoformat(first["on"])
        picked = date.fromisoformat(first["value"]) if first.get("value") else None
        return Acted(False, click_rules.answer_line(first["action"], first["by"], when, picked))

    deps.store.record_ack(
        Ack(
            ref.item_id,
            ref.cycle_expiry,
            action,
            now,
            by=by,
            snooze_until=value if action == SNOOZE else None,
            new_expiry=value if action == RENEW else None,
        ),
        chain_index=ref.chain_index,
        old_expiry=ref.cycle_expiry,
    )
    before, after = click_rules.audit_change(action, ref.cycle_expiry, value)
    deps.audit.record(ref.item_id, action, by, before, after, now)
    if action == RENEW and value:
        chain = [
            r.ping for r in deps.store.chain_pings(ref.item_id) if r.ping.cycle_expiry == ref.cycle_expiry
        ]
        deps.store.archive(chain)
        deps.defer(
            {
                "task": SHEET_TASK,
                "item_id": ref.item_id,
                "old_expiry": ref.cycle_expiry.isoformat(),
                "new_expiry": value.isoformat(),
                "renewed_on": today.isoformat(),
                "by": by,
            }
        )
    return Acted(True, click_rules.answer_line(action, by, today, value))


def modal_errors(errors: Mapping[str, str]) -> HttpAnswer:
    return HttpAnswer(200, json.dumps({"response_action": "errors", "errors": dict(errors)}))


def mark_answered(deps: AckDeps, channel: str, ts: str, message: dict[str, Any] | None, line: str) -> None:
    """Replace the buttons with who did what. A failure here loses nothing: the ack is recorded."""
    if deps.slack is None or not channel or not ts:
        return
    blocks = (message or {}).get("blocks")
    updated = click_rules.answered_blocks(blocks, line) if blocks else [text_section(line)]
    try:
        deps.slack.update(channel, ts, line, updated)
    except SlackUnavailable as exc:
        log.warning("could not update the message after a click: %s", exc)
