"""Dispatch (DESIGN.md §3, §7, §9): one move in, at most one message out.

Every delivery path is at least once (EventBridge, Scheduler, the tick itself), so a ping is claimed
in ew-pings with a conditional write before anything is sent: a duplicate finds the claim and sends
nothing. A failed send gives the claim back and raises, so the retry (and finally the DLQ) sees it.
An invocation killed mid-send (timeout, out of memory) cannot give anything back: its claim is a lease
that ends after the function's timeout, and Lambda's retry a minute later takes it over. A duplicate
that arrives while the lease runs raises (ClaimHeld), so Lambda retries it too instead of dropping it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ew.cards import BUTTONS, email_content, renewal_default, slack_card
from ew.chain import MOVES, RENEW, Move, Ping, PingRef
from ew.daily_tick import TickError, UnreadableInput, read_registry, read_rules, read_voice
from ew.items import Item, channel_for, is_email, item_from_row
from ew.settings import Settings
from ew.store import DEFAULT_LEASE, ChainStore
from ew.voice import Voice
from opskit.business_time import plan_delivery
from opskit.mail import build_message, send_raw
from opskit.schedule import schedule_name, schedule_once
from opskit.signed_links import sign
from opskit.slack import SlackGateway, SlackUnavailable

log = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(days=14)
SENT, SCHEDULED, DUPLICATE, SKIPPED = "sent", "scheduled", "duplicate", "skipped"
MOVE_TYPES = tuple(f"ew.{move}" for move in MOVES)  # the detail-types daily-tick emits
# A claim is held for the invocation's remaining time (Lambda stops it at its timeout) plus this margin
# for clock differences: 30 s + 10 s for dispatch, well before Lambda's first retry (~1 minute).
LEASE_MARGIN = timedelta(seconds=10)
# A move that arrives this long after the tick decided it (a retry for hours, a DLQ replay) is checked
# against the sheet as it is now, as a deferred one always is: the sheet may have moved meanwhile. A move
# on time is not (drive-sync mirrors every 15 minutes: the sheet the tick read is the one in force), so
# the hundreds of sends of a tick do not each read the whole registry.
LATE_AFTER = timedelta(minutes=15)


class DispatchError(RuntimeError):
    """The move cannot be delivered; the message says why in plain words."""


@dataclass
class DispatchDeps:
    store: ChainStore
    s3: Any
    ses: Any
    scheduler: Any
    slack: SlackGateway | None  # None: no bot token configured, everything goes by email
    settings: Settings
    rules_bucket: str
    link_secret: bytes | None
    action_url: str  # the ack-handler's URL for email links ("" = no links)
    dispatch_arn: str
    scheduler_role_arn: str
    schedule_group: str
    dlq_arn: str | None = None
    registry_bucket: str = ""  # registry.csv, re-read for a deferred or late move ("" = not re-read)
    lease: timedelta = DEFAULT_LEASE  # how long a "sending" claim is held (see LEASE_MARGIN)
    # When the move arrives: quiet hours and closed days are judged then, not when the tick decided.
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass(frozen=True)
class Request:
    item: Item
    move: Move
    decided_at: datetime
    deliver_at: datetime | None  # set when a deferral schedule fired
    detail: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    status: str
    item_id: str
    move: str
    recipient: str
    channel: str
    send_at: datetime
    reason: str | None = None
    fell_back: bool = False  # Slack failed and the email went instead

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "item_id": self.item_id,
            "move": self.move,
            "recipient": self.recipient,
            "channel": self.channel,
            "send_at": self.send_at.isoformat(),
            "reason": self.reason,
            "fell_back": self.fell_back,
        }


def parse_request(event: dict[str, Any]) -> Request:
    """An EventBridge move event, or the payload of a deferral schedule (`deferred: true`). Anything
    else is refused, even with a move inside: only the tick decides what is sent."""
    kind = event.get("detail-type")
    if event.get("deferred") is not True and kind not in MOVE_TYPES:
        raise DispatchError(
            f"dispatch delivers only {', '.join(MOVE_TYPES)} events and its own deferrals, "
            f"not {kind!r}: nothing sent"
        )
    try:
        detail = event["detail"]
        m = detail["move"]
        move = Move(
            item_id=m["item_id"],
            move=m["move"],
            recipient=m["recipient"],
            days_left=int(m["days_left"]),
            anchor=date.fromisoformat(m["anchor"]),
            cycle_expiry=date.fromisoformat(m["cycle_expiry"]),
            chain_index=int(m["chain_index"]),
            escalated_from=m.get("escalated_from"),
        )
        deliver_at = datetime.fromisoformat(event["deliver_at"]) if event.get("deferred") else None
        request = Request(
            item_from_row(detail["item"]),
            move,
            datetime.fromisoformat(detail["decided_at"]),
            deliver_at,
            detail,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DispatchError(f"not a move event this function understands ({exc!r})") from exc
    if move.move not in MOVES or (kind is not None and kind != f"ew.{move.move}"):
        raise DispatchError(
            f"the move {move.move!r} does not match the event's detail-type {kind!r}: nothing sent"
        )
    return request


def dispatch(event: dict[str, Any], deps: DispatchDeps) -> Outcome:
    request = parse_request(event)
    if request.deliver_at is not None:
        return _deliver_deferred(request, deps)

    calendar = deps.settings.calendar(read_rules(deps.s3, deps.rules_bucket).closed)
    # A move that arrives late (a tick retried for hours, an event replayed from the DLQ on a
    # Saturday night) is judged by the time it arrives: it waits for business time like any other,
    # and says how many days are left on the day it goes out.
    arrived = max(request.decided_at, deps.clock())
    if arrived - request.decided_at > LATE_AFTER:
        rechecked = _recheck_in_sheet(request, deps)
        if isinstance(rechecked, str):
            return _skipped(request, arrived, rechecked)
        request = rechecked
    move = replace(request.move, days_left=(request.move.anchor - calendar.local_date(arrived)).days)
    plan = plan_delivery(arrived, calendar, deadline=move.anchor)
    ping = Ping(
        move.item_id,
        move.cycle_expiry,
        move.chain_index,
        move.move,
        calendar.local_date(plan.send_at),
        move.recipient,
    )
    planned = channel_for(move.recipient)
    zone = deps.settings.timezone  # kept on the ping row: a click on it needs only that of the settings
    outcome = Outcome(SENT, move.item_id, move.move, move.recipient, planned, plan.send_at, plan.reason)

    def claim() -> bool:
        # decided_at: a cycle closed after the tick decided this move (a renewal typed into the sheet
        # leaves no Renew to find) makes it stale, however late it arrives.
        return deps.store.claim(
            ping,
            plan.send_at,
            planned,
            "sending",
            lease=deps.lease,
            timezone=zone,
            decided_at=request.decided_at,
        )

    if plan.deferred:
        # Claimed as "sending" (a lease) until the schedule exists, then "scheduled": an attempt killed
        # in between leaves a lease that Lambda's retry takes over to create the schedule, where a
        # "scheduled" row with no schedule behind it would make that retry a duplicate and the alert
        # would never go. Creating the schedule again is harmless (its name is the ping's).
        if not claim():
            return _duplicate(outcome)
        try:
            _schedule(request, plan.send_at, deps)
        except Exception:
            # No schedule, no delivery: give the claim back so the retry schedules it again.
            deps.store.release(move.item_id, move.chain_index)
            raise
        deps.store.mark_scheduled(move.item_id, move.chain_index)
        return _with(outcome, status=SCHEDULED)

    if not claim():
        return _duplicate(outcome)

    def give_back() -> None:
        deps.store.release(move.item_id, move.chain_index)

    return _send(request.item, move, arrived, deps, outcome, give_back)


def _deliver_deferred(request: Request, deps: DispatchDeps) -> Outcome:
    """The deferral's schedule fired (or was retried, or replayed from its DLQ). Checked against the sheet
    as it is now (the item may be gone, retired, renewed or handed to another owner since the tick
    decided) and against business time at arrival (a late retry may land in the night again)."""
    assert request.deliver_at is not None
    original = request.move
    rechecked = _recheck_in_sheet(request, deps)  # before the claim: a failed read holds nothing
    calendar = deps.settings.calendar(read_rules(deps.s3, deps.rules_bucket).closed)
    arrived = max(request.deliver_at, deps.clock())
    outcome = Outcome(
        SENT, original.item_id, original.move, original.recipient, channel_for(original.recipient), arrived
    )
    if not deps.store.start_deferred(
        original.item_id, original.chain_index, original.cycle_expiry, lease=deps.lease
    ):
        return _duplicate(outcome)
    if isinstance(rechecked, str):
        # Never sent: the ping is given back, so a chain the sheet brings back is alerted afresh.
        deps.store.release(original.item_id, original.chain_index)
        return _skipped(request, arrived, rechecked)

    def give_back() -> None:
        deps.store.return_to_scheduled(original.item_id, original.chain_index)

    anchor = rechecked.move.anchor
    plan = plan_delivery(arrived, calendar, deadline=anchor)
    if plan.deferred:
        # Arrived outside business time (a retry hours late, a replay at the weekend): wait again, under
        # a name of its own (the schedule that fired may not be deleted yet).
        try:
            _schedule(request, plan.send_at, deps, again=True)
        except Exception:
            give_back()
            raise
        give_back()
        return _with(outcome, status=SCHEDULED, send_at=plan.send_at, reason=plan.reason)
    # The message says how many days are left on the day it arrives, not on the day it was decided.
    move = replace(rechecked.move, days_left=(anchor - calendar.local_date(arrived)).days)
    outcome = _with(
        outcome, recipient=move.recipient, channel=channel_for(move.recipient), reason=plan.reason
    )
    return _send(rechecked.item, move, arrived, deps, outcome, give_back)


def recheck(sent: Item, move: Move, current: Item | None) -> tuple[Item, Move] | str:
    """The move against the item as the sheet shows it now: (the item and move to send), or why nothing
    is sent. Gone, retired or another cycle (the expiry changed: renewed or corrected in the sheet):
    nothing. Another owner: the owner's messages go to the new one. Other edits (notes, notice date,
    link) are shown as they are now."""
    if current is None:
        return "the item is no longer in the sheet"
    if current.status == "retired":
        return "the item is retired in the sheet"
    if current.expiry_date != move.cycle_expiry:
        return f"the sheet now shows another expiry ({current.expiry_date}): this cycle is closed"
    if current.owner != sent.owner:
        if move.recipient == sent.owner:
            move = replace(move, recipient=current.owner)
        if move.escalated_from == sent.owner:
            move = replace(move, escalated_from=current.owner)
    return current, replace(move, anchor=current.anchor)


def _recheck_in_sheet(request: Request, deps: DispatchDeps) -> Request | str:
    if not deps.registry_bucket:
        return request
    try:
        registry = read_registry(deps.s3, deps.registry_bucket, deps.settings.date_order)
    except UnreadableInput:
        raise  # S3 refused (access, archived object): fail, so the retry and then the DLQ see it
    except TickError as exc:
        # No registry.csv at all (never mirrored, or deleted by hand): there is no "now" to check
        # against, and dropping the alert would lose it silently; it goes as the tick decided it.
        log.warning("%s: sent as decided, not checked against the sheet: %s", request.move.item_id, exc)
        return request
    current = next((item for item in registry.items if item.item_id == request.move.item_id), None)
    checked = recheck(request.item, request.move, current)
    if isinstance(checked, str):
        return checked
    item, move = checked
    return replace(request, item=item, move=move)


def _skipped(request: Request, at: datetime, reason: str) -> Outcome:
    move = request.move
    # IDs and dates only in the log (DESIGN.md §9): the reason names no person.
    log.info("%s ping %s (cycle %s) not sent: %s", move.item_id, move.move, move.cycle_expiry, reason)
    return Outcome(SKIPPED, move.item_id, move.move, move.recipient, channel_for(move.recipient), at, reason)


def _send(
    item: Item, move: Move, now: datetime, deps: DispatchDeps, outcome: Outcome, give_back: Callable[[], None]
) -> Outcome:
    """Deliver a claimed ping; on any failure give the claim back and raise (the retry sends it).
    An invocation killed here keeps its claim until the lease ends; the retry then takes it over."""
    try:
        channel, ref, fell_back = deliver(item, move, read_voice(deps.s3, deps.rules_bucket), now, deps)
    except Exception:
        give_back()
        raise
    deps.store.mark_sent(move.item_id, move.chain_index, channel, ref)
    return _with(outcome, channel=channel, fell_back=fell_back)


def _schedule(request: Request, at: datetime, deps: DispatchDeps, *, again: bool = False) -> None:
    move = request.move
    parts = ["ping", move.item_id, move.cycle_expiry.isoformat(), str(move.chain_index)]
    if again:
        parts.append(f"{at.astimezone(UTC):%Y%m%dT%H%M}")
    name = schedule_name(*parts)
    schedule_once(
        deps.scheduler,
        name,
        at,
        deps.settings.timezone,
        deps.dispatch_arn,
        deps.scheduler_role_arn,
        {"deferred": True, "deliver_at": at.isoformat(), "detail": request.detail},
        group=deps.schedule_group,
        dlq_arn=deps.dlq_arn,
    )


def deliver(item: Item, move: Move, voice: Voice, now: datetime, deps: DispatchDeps) -> tuple[str, str, bool]:
    """Send the message; returns (channel, message reference, fell back to email). One Slack post at
    most (the client never re-posts after an answer that may mean it was posted), then one email."""
    fell_back = False
    try:
        slack_user = _slack_user(move.recipient, deps.slack)
        if slack_user and deps.slack:
            text, blocks = slack_card(item, move, voice)
            posted = deps.slack.post(slack_user, text, blocks)
            return "slack", f"{posted.channel}/{posted.ts}", False
    except SlackUnavailable as exc:
        log.warning("Slack failed for %s, sending email instead: %s", move.item_id, exc)
        fell_back = True
    address = _email_address(item, move, deps.settings)
    email = email_content(item, move, voice, _links(item, move, address, now, deps))
    message = build_message(deps.settings.sender, address, email.subject, email.text, email.html)
    return "email", send_raw(deps.ses, message), fell_back


def _slack_user(recipient: str, slack: SlackGateway | None) -> str | None:
    """The Slack ID to DM, or None when the message goes by email as planned (no Slack, or an email
    address Slack does not know). A failed lookup raises SlackUnavailable: a fallback."""
    if slack is None:
        return None
    if not is_email(recipient):
        return recipient
    return slack.user_id_for_email(recipient)


def _email_address(item: Item, move: Move, settings: Settings) -> str:
    if is_email(move.recipient):
        return move.recipient
    if move.recipient == item.owner and item.owner_email:
        return item.owner_email
    if settings.admin and is_email(settings.admin):
        return settings.admin
    raise DispatchError(
        f"{move.item_id}: Slack is unavailable and there is no email address for {move.recipient}: "
        "add an owner_email column value or set an email admin in /ew/config/admin"
    )


def _links(item: Item, move: Move, address: str, now: datetime, deps: DispatchDeps) -> dict[str, str]:
    if not deps.action_url or not deps.link_secret:
        log.warning("email links are off: no action URL or link secret configured")
        return {}
    ref = PingRef.of(move)
    links = {}
    for action, _label in BUTTONS:
        # The link names the ping, the action, the item (for the page) and who it was sent to (the
        # audit's "by"); the renew default saves the page a sheet read.
        claims = {"i": ref.item_id, "c": ref.cycle_expiry.isoformat(), "n": ref.chain_index, "a": action,
                  "x": item.item[:100], "b": address}  # fmt: skip
        if action == RENEW:
            claims["d"] = renewal_default(item).isoformat()
        token = sign(deps.link_secret, claims, now + LINK_LIFETIME)
        links[action] = f"{deps.action_url.rstrip('/')}/email?t={token}"
    return links


def _duplicate(outcome: Outcome) -> Outcome:
    log.info("duplicate delivery of %s ping %s: nothing sent", outcome.item_id, outcome.move)
    return _with(outcome, status=DUPLICATE)


def _with(outcome: Outcome, **changes: Any) -> Outcome:
    return replace(outcome, **changes)
