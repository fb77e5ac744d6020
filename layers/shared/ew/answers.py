"""Recording an owner's answer to a ping, once (DESIGN.md §8, §9): the service behind every click.

A Slack button, a Slack modal and an email link all end in `act`: the ack, the audit row and, for a
renewal, the closed chain and the sheet write-back (later, in an asynchronous invocation, so Slack gets
its answer within 3 seconds however slow Google is). Each answer acts once (a claim in the state
table, held as a lease while its writes run), whoever clicks twice and however often Slack retries; a
failed write gives the claim back, so the next click records the answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError, ClientError

from ew import click_rules
from ew.audit import AuditLog
from ew.chain import RENEW, SNOOZE, Ack, PingRef
from ew.settings import Settings
from ew.store import ChainStore, PingRecord
from opskit.http_answer import HttpAnswer, Refused
from opskit.message_versions import MessageUpdate, MessageVersions, Shown
from opskit.slack import SlackGateway, SlackUnavailable, text_section
from opskit.state import Busy, Done, Held, StateTable

log = logging.getLogger(__name__)

SHEET_TASK = "sheet_renewal"  # the asynchronous write-back of a renewal
APPEND_TASK = "sheet_append"  # the asynchronous append of an approved proposal
CARD_TASK = "card_update"  # a card update Slack refused for the moment, tried again asynchronously


@dataclass
class AckDeps:
    store: ChainStore
    audit: AuditLog
    state: StateTable
    cards: MessageVersions  # the version each card shows (in the state table): a late update never wins
    slack: SlackGateway | None
    signing_secret: str
    link_secret: bytes | None
    # Read only when needed: a Slack click takes its timezone from the ping it answers, so a cold
    # container answers it without a Parameter Store client (~30-40 ms of a cold start).
    settings: Callable[[], Settings]
    defer: Callable[[dict[str, Any]], None]  # runs a task in an asynchronous invocation
    clock: Callable[[], datetime]

    def today(self, timezone: str | None = None) -> date:
        """Today in `timezone` (a ping's, see PingRecord.timezone), else in the settings' timezone."""
        return self.clock().astimezone(ZoneInfo(timezone or self.settings().timezone)).date()


@dataclass(frozen=True)
class Acted:
    first: bool  # False: someone acted before; `line` says who and what
    line: str
    at: datetime  # when that answer was recorded: the version of a card that shows `line`
    card_recorded: bool = False  # the card's version went in with the answer's own write (see act)


@dataclass(frozen=True)
class Card:
    """The Slack card a click came from: where it is, and its message as the click saw it."""

    channel: str
    ts: str
    message: Mapping[str, Any] | None


# A claim is held while its work runs; ack-handler times out after 15 s (template.yaml), so a claim
# still held after this long belongs to an attempt that died, and the next attempt takes it over.
CLAIM_LEASE = timedelta(seconds=30)
# A replayed request is refused by its signature after 5 minutes; its click record is kept a while longer.
CLICK_KEEP = timedelta(days=1)

BUSY = "Someone is recording an answer to this right now. Try again in a minute."
FAILED = "Your answer could not be recorded just now (a temporary problem). Please try again."


class NotRecorded(Exception):
    """The answer is not (fully) recorded: a write failed (the claim was released, so the same click
    again completes it), or another attempt holds the claim right now. The message is for the person."""


@contextmanager
def recording() -> Iterator[None]:
    """Turns any failure of the claimed work into NotRecorded (logged with its cause)."""
    try:
        yield
    except (NotRecorded, Refused):
        raise
    except Busy as exc:
        raise NotRecorded(BUSY) from exc
    except Exception as exc:
        log.exception("an answer was not recorded")
        raise NotRecorded(FAILED) from exc


def act(
    deps: AckDeps,
    ref: PingRef,
    action: str,
    by: str,
    value: date | None,
    timezone: str | None = None,
    card: Card | None = None,
) -> Acted:
    """Record one answer to one ping: the ack, the audit row, and for a renewal the closed chain and
    the sheet write-back (later, asynchronously). Raises NotRecorded when that could not be done.
    `timezone`: the ping's (PingRecord.timezone), for the day the answer is dated; else the settings'.
    `card`: the card clicked. A first answer records the card's version (the answer's time) in the
    ack's own transaction, so showing it costs the click no extra write (`Acted.card_recorded`)."""
    now = deps.clock()
    # A renewal closes the whole cycle, so it is once per cycle; the others once per ping.
    sk = RENEW if action == RENEW else f"{ref.chain_index}#{action}"
    record = {
        "action": action,
        "by": by,
        "on": deps.today(timezone).isoformat(),
        "value": value.isoformat() if value else None,
        "n": ref.chain_index,
    }
    with recording():
        if action != RENEW and (renewal := renewed(deps, ref)) is not None:
            return renewal  # a stale card of a closed cycle: nothing more to record
        claimed = deps.state.claim(_cycle_key(ref), sk, record, now, lease=CLAIM_LEASE)
        if isinstance(claimed, Done):
            return Acted(False, _line(claimed.data), claimed.at)
        line, version, shown = _answered_card(deps, claimed, card, now)
        with deps.state.holding(claimed):
            # The claim's own time and data, not this call's: after a takeover (of an attempt that
            # failed or died) this completes the answer as first recorded, and the ack and audit row
            # keyed by that time are written once however many attempts get this far.
            _record(deps, ref, claimed.data, claimed.at, shown)
    return Acted(True, line, version, card_recorded=shown is not None)


def _answered_card(
    deps: AckDeps, claimed: Held, card: Card | None, now: datetime
) -> tuple[str, datetime, MessageUpdate | None]:
    """The line of a first answer, its version (when it is recorded: the claim's time, or now for an
    attempt that takes over one that died, which may be the one that records it), and the card update
    to record with it: only when fresh, since after a takeover the answer's write may have been done
    by the attempt that died (this one then writes nothing) and the card is shown the careful way."""
    line = _line(claimed.data)
    if claimed.taken_over:
        return line, now, None
    shown = card_update(card, line, claimed.at) if card is not None and deps.slack is not None else None
    return line, claimed.at, shown


def renewed(deps: AckDeps, ref: PingRef) -> Acted | None:
    """Who renewed this ping's cycle (the line a card says it with, and when), or None while it is
    open. A renewal closes the cycle: an Ack only or a Snooze clicked later on one of its stale cards
    (an earlier reminder, the escalation in someone else's DM) is answered with it and records nothing."""
    done = deps.state.get(_cycle_key(ref), RENEW)
    return Acted(False, _line(done.data), done.at) if done is not None else None


def _cycle_key(ref: PingRef) -> str:
    return f"act#{ref.item_id}#{ref.cycle_expiry.isoformat()}"


def _record(
    deps: AckDeps, ref: PingRef, record: Mapping[str, Any], at: datetime, shown: MessageUpdate | None
) -> None:
    action, by = str(record["action"]), str(record["by"])
    index = int(record.get("n", ref.chain_index))  # a renewal's claim is per cycle: the ping it answered
    value = date.fromisoformat(record["value"]) if record.get("value") else None
    before, after = click_rules.audit_change(action, ref.cycle_expiry, value)
    _, audit_row = deps.audit.entry(ref.item_id, action, by, before, after, at)
    renewal = action == RENEW and value is not None
    if renewal:
        # Queued before the ack: once the ack is written the watcher treats the item as renewed, so an
        # attempt that died (or failed) between the two would leave the sheet on the old expiry for
        # good. Queued twice (a takeover) it writes once (write_renewal's claim per cycle); queued with
        # no ack after it (nobody retries), it still lands and drive-sync closes the chain as a
        # renewal typed into the sheet.
        deps.defer(
            {
                "task": SHEET_TASK,
                "item_id": ref.item_id,
                "old_expiry": ref.cycle_expiry.isoformat(),
                "new_expiry": str(record["value"]),
                "renewed_on": record["on"],
                "by": by,
            }
        )
    # One transaction: the ack, its chain head and its audit row are written together or not at all,
    # and the version of the card that will show it (a write that never fails, see MessageVersions).
    also = [{"Put": audit_row}]
    if shown is not None:
        also.append(deps.cards.record(shown, deps.clock()))
    deps.store.record_ack(
        Ack(
            ref.item_id,
            ref.cycle_expiry,
            action,
            at,
            by=by,
            snooze_until=value if action == SNOOZE else None,
            new_expiry=value if action == RENEW else None,
        ),
        chain_index=index,
        old_expiry=ref.cycle_expiry,
        also=also,
    )
    if renewal:
        chain = [
            r.ping for r in deps.store.chain_pings(ref.item_id) if r.ping.cycle_expiry == ref.cycle_expiry
        ]
        deps.store.archive(chain)


def _line(record: Mapping[str, Any]) -> str:
    picked = date.fromisoformat(record["value"]) if record.get("value") else None
    return click_rules.answer_line(record["action"], record["by"], date.fromisoformat(record["on"]), picked)


def ping_known(store: ChainStore, ref: PingRef) -> PingRecord | None:
    """The ping `ref` names if the watcher sent it: in pings, or in the archive with its closed cycle.
    A click on anything else (a deleted item, a forged or garbled reference) must record nothing."""
    record = store.get(ref.item_id, ref.chain_index)
    if record is not None and record.ping.cycle_expiry == ref.cycle_expiry:
        return record
    return store.archived(ref.item_id, ref.cycle_expiry, ref.chain_index)


def click_once(deps: AckDeps, request: str) -> Held | None:
    """Claim one request (a digest of its exact body): None when it was handled already or is being
    handled right now, so a replay (a Slack retry, a copied request) changes nothing and calls Slack
    no more. Hold the claim around the work (`deps.state.holding`)."""
    with recording():
        try:
            claimed = deps.state.claim(
                f"click#{request}", "seen", {}, deps.clock(), lease=CLAIM_LEASE, keep=CLICK_KEEP
            )
        except Busy:
            return None
    return claimed if isinstance(claimed, Held) else None


def modal_errors(errors: Mapping[str, str]) -> HttpAnswer:
    return HttpAnswer(200, json.dumps({"response_action": "errors", "errors": dict(errors)}))


def card_update(card: Card, line: str, version: datetime | None) -> MessageUpdate | None:
    """The card with its buttons replaced by `line`, the fact of `version` (None: a line that states
    no fact, such as "no record of this ping"); None when the click named no card."""
    if not card.channel or not card.ts:
        return None
    blocks = (card.message or {}).get("blocks")
    updated = click_rules.answered_blocks(blocks, line) if blocks else [text_section(line)]
    return MessageUpdate(card.channel, card.ts, line, updated, version)


def mark_answered(
    deps: AckDeps,
    card: Card,
    line: str,
    version: datetime | None,
    *,
    recorded: bool = False,
    followed: bool = False,
) -> None:
    """Replace the buttons with who did what: `line`, the fact recorded at `version`. A failure here
    loses nothing: the answer is recorded.

    The card shows the newest fact about it, never an older one (opskit.message_versions): this update
    is recorded, then the newest recorded is shown. `recorded`: the answer's own transaction recorded it
    (a first answer, the newest fact there is), so it is sent at once, with no read before or after
    (the click's round trips); `followed`: this answer queued a task that updates the card again (an
    approval's append), so it is read after all, in case that task's update landed first.

    The click's Slack client does not wait for a retry (Slack's 3 s), so an update Slack refused for the
    moment (rate limited, a 5xx, no answer) is tried again in an asynchronous invocation, which may. It
    carries its version: run late, after a newer update, it shows the newer one."""
    update = card_update(card, line, version)
    if deps.slack is None or update is None:
        return
    try:
        if recorded and not followed:
            deps.slack.update(update.channel, update.ts, update.text, update.blocks)
        else:
            deps.cards.show(deps.slack, update, deps.clock(), recorded=recorded)
    except SlackUnavailable as exc:
        log.warning("could not update the message after a click: %s", exc)
        if _for_now(exc):
            _defer_card(deps, update)
    except (ClientError, BotoCoreError) as exc:  # the version table: the task tries it all again
        log.warning("could not record the card's version: %s", exc)
        _defer_card(deps, update)


def _defer_card(deps: AckDeps, update: MessageUpdate) -> None:
    try:
        deps.defer({"task": CARD_TASK, **update.as_dict()})
    except Exception as deferred:  # the answer stands; only the card keeps its buttons
        log.warning("could not queue the card update: %s", deferred)


def _for_now(error: SlackUnavailable) -> bool:
    """Whether Slack may well do it a little later: a timeout, no connection, a 429 or a 5xx."""
    return error.code in ("timeout", "connection", "http_429", "ratelimited") or error.code.startswith(
        "http_5"
    )


def update_card(
    task: Mapping[str, Any], slack: SlackGateway | None, cards: MessageVersions, now: datetime
) -> str:
    """The asynchronous retry of a card update (CARD_TASK): the newest version of the card is shown,
    its own or one recorded since (a later click, the sheet renewal's card). Raises SlackUnavailable
    when Slack still refuses, so Lambda tries again (twice); the same update twice shows the same card."""
    if slack is None:
        return "skipped: Slack is off"
    shown: Shown = cards.show(slack, MessageUpdate.from_dict(dict(task)), now)
    return "updated" if shown.own else "newer card shown"
