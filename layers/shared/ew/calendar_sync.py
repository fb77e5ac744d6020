"""calendar-sync (DESIGN.md §3, §8): `#expires` events in the configured Google Calendars become
proposals in the intake channel, the same cards intake-parser posts and ack-handler answers.

Each calendar is read incrementally (Calendar `events.list` with the sync token kept in the state
table, `calendar-sync#<calendar id>` / `token`); a 410 means the token expired: everything is read
again, and proposals whose events are gone meanwhile are withdrawn. What was proposed for each event is
kept beside it (`event#<event id>`), so an event is proposed once, again only if its date changes
(`ew.calendar_plan`). The token is saved after every event of the read was handled: a run that dies
half way reads the same changes again, and the per-event records make that harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ew import calendar_plan, proposals
from ew.calendar_plan import Seen
from ew.click_rules import answered_blocks
from ew.settings import Settings
from opskit.config import ConfigError
from opskit.dates import human_date
from opskit.google_api import GoogleError, GoogleSession, Retry
from opskit.google_docs import SyncTokenExpired, changed_events
from opskit.message_versions import MessageUpdate, MessageVersions
from opskit.notices import Notices
from opskit.slack import SlackGateway, SlackUnavailable, text_section
from opskit.state import Busy, Done, StateTable

log = logging.getLogger(__name__)

TOKEN_SK = "token"
EVENT_SK = "event#"
KEEP_TOKEN = timedelta(days=400)
WITHDRAW_LEASE = timedelta(seconds=30)  # longer than the few calls between the claim and its completion
KEEP_AFTER_EVENT = timedelta(
    days=60
)  # an event's record outlives its date: edits of past events change nothing


@dataclass
class CalendarSyncDeps:
    state: StateTable
    slack: SlackGateway | None
    settings: Settings
    google: Callable[[], GoogleSession]
    retry: Retry
    notices: Notices
    clock: Callable[[], datetime]
    config_path: str = "/ew/config/"


@dataclass
class CalendarReport:
    calendars: int = 0
    events: int = 0  # changed events read
    proposed: list[str] = field(default_factory=list)  # proposal ids posted
    withdrawn: list[str] = field(default_factory=list)
    full_reads: list[str] = field(default_factory=list)  # calendars read in full (first time, or after 410)
    unreadable: list[str] = field(default_factory=list)  # not shared, wrong ID: the admin is told
    failed: list[str] = field(default_factory=list)  # Google or Slack did not answer: read again next run
    told: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def run_calendar_sync(deps: CalendarSyncDeps, now: datetime) -> CalendarReport:
    report = CalendarReport()
    settings = deps.settings
    if not settings.calendar_ids:
        return report
    if not settings.intake_channel:
        raise ConfigError(
            f"{deps.config_path}intake_channel is not set: calendar-sync has nowhere to post proposals"
        )
    if deps.slack is None:
        raise ConfigError("Slack is off (no bot token in ew/slack/bot-token): proposals are Slack cards")
    google = deps.google()
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    for calendar_id in settings.calendar_ids:
        report.calendars += 1
        _sync(deps, google, calendar_id, today, report)
    report.told = list(deps.notices.said)
    return report


def _sync(
    deps: CalendarSyncDeps, google: GoogleSession, calendar_id: str, today: date, report: CalendarReport
) -> None:
    pk = f"calendar-sync#{calendar_id}"
    stored = deps.state.get(pk, TOKEN_SK)
    token = str(stored.data["token"]) if stored is not None else None
    try:
        try:
            changes = changed_events(google, calendar_id, token, deps.retry)
        except SyncTokenExpired:
            log.info("the sync token of %s expired: reading it in full", calendar_id)
            token = None
            changes = changed_events(google, calendar_id, None, deps.retry)
    except GoogleError as error:
        if error.transient:
            log.warning("%s could not be read this time: %s", calendar_id, error)
            report.failed.append(calendar_id)
            return
        report.unreadable.append(calendar_id)
        subject, text = calendar_plan.unreadable_message(calendar_id, str(error))
        deps.notices.problem(pk, [str(error)], subject, text)
        return
    deps.notices.cleared(pk, *calendar_plan.readable_message(calendar_id))
    if token is None:
        report.full_reads.append(calendar_id)
    report.events += len(changes.events)
    try:
        for event in changes.events:
            _handle(deps, pk, calendar_id, event, today, report)
        if token is None:  # a full read: events not in it are gone (deleted while we could not see)
            listed = {str(event.get("id")) for event in changes.events}
            for sk, _ in deps.state.rows(pk):
                if sk.startswith(EVENT_SK) and sk[len(EVENT_SK) :] not in listed:
                    gone = {"id": sk[len(EVENT_SK) :], "status": "cancelled"}
                    _handle(deps, pk, calendar_id, gone, today, report)
    except SlackUnavailable as exc:
        log.warning("Slack did not take a proposal from %s; it is read again next run: %s", calendar_id, exc)
        report.failed.append(calendar_id)
        return
    deps.state.put(pk, TOKEN_SK, {"token": changes.sync_token}, deps.clock(), KEEP_TOKEN)


def _handle(
    deps: CalendarSyncDeps,
    pk: str,
    calendar_id: str,
    event: dict[str, Any],
    today: date,
    report: CalendarReport,
) -> None:
    event_id = str(event.get("id") or "")
    if not event_id:
        return
    sk = EVENT_SK + event_id
    seen = _seen(deps.state, pk, sk)
    step = calendar_plan.plan_event(event, seen, today)
    if step.action == calendar_plan.NOTHING:
        return
    log.info("calendar event %s in %s: %s (%s)", event_id, calendar_id, step.action, step.why)
    if (
        step.action in (calendar_plan.WITHDRAW, calendar_plan.REPROPOSE)
        and seen is not None
        and not seen.decided
    ):
        why = step.why + ("; it is proposed again" if step.action == calendar_plan.REPROPOSE else "")
        if _withdraw(deps, seen, why, today):
            report.withdrawn.append(seen.proposal_id)
    if step.action == calendar_plan.WITHDRAW:
        deps.state.forget(pk, sk)
        return
    assert step.day is not None
    _propose(deps, pk, sk, calendar_id, event, step.day, report, _approved_before(deps.state, seen))


def _seen(state: StateTable, pk: str, sk: str) -> Seen | None:
    found = state.get(pk, sk)
    if found is None:
        return None
    data = found.data
    decided = state.get(proposals.store_key(str(data["proposal_id"])), "decision") is not None
    return Seen(
        date.fromisoformat(data["day"]),
        str(data["proposal_id"]),
        str(data.get("ts") or ""),
        decided,
        str(data.get("channel") or ""),
    )


def _approved_before(state: StateTable, seen: Seen | None) -> tuple[str, ...]:
    """The warning for a moved event whose earlier proposal went into the sheet: its new card would
    otherwise look like a new item, and approving it adds a second row beside the one still alerting."""
    if seen is None or not seen.decided:
        return ()
    decided = state.get(proposals.store_key(seen.proposal_id), "decision")
    if decided is None or decided.data.get("decision") == proposals.DISCARD:
        return ()
    fields = decided.data.get("fields") or {}
    try:  # the date as approved: an Edit may have changed it
        expiry = date.fromisoformat(str(fields.get("expiry_date") or seen.day.isoformat()))
    except ValueError:
        expiry = seen.day
    return (
        f"this event is already in the sheet with expiry {human_date(expiry)} (approved before it "
        "moved): Approve adds a second row; to move that one, change its expiry_date in the sheet and "
        "Discard this",
    )


def _propose(
    deps: CalendarSyncDeps, pk: str, sk: str, calendar_id: str, event: dict[str, Any], day: date,
    report: CalendarReport, warnings: tuple[str, ...] = (),
) -> None:  # fmt: skip
    """Record, post, record the card: a crash before the second record posts the card again next run,
    with the same proposal id (it still decides once); never not at all."""
    now = deps.clock()
    proposal_id = calendar_plan.proposal_id(calendar_id, str(event["id"]), day)
    channel = deps.settings.intake_channel
    keep = (
        max(timedelta(days=1), datetime.combine(day, datetime.min.time(), now.tzinfo) - now)
        + KEEP_AFTER_EVENT
    )
    record = {"day": day.isoformat(), "proposal_id": proposal_id, "channel": channel, "ts": ""}
    deps.state.put(pk, sk, record, now, keep)
    proposal = proposals.Proposal(
        proposal_id,
        calendar_plan.proposal_fields(event, day),
        calendar_plan.proposal_source(event, calendar_id),
        warnings,
    )
    assert deps.slack is not None
    ts = proposals.propose(deps.state, deps.slack, channel, proposal, now)
    deps.state.put(pk, sk, {**record, "ts": ts}, now, keep)
    report.proposed.append(proposal_id)


def _withdraw(deps: CalendarSyncDeps, seen: Seen, why: str, today: date) -> bool:
    """Decide the proposal (as discarded, so a late click on a stale card cannot approve it) and say so
    on its card. False when someone decided it first: their answer stands."""
    now = deps.clock()
    key = proposals.store_key(seen.proposal_id)
    decision = {"decision": proposals.DISCARD, "by": "", "at": now.isoformat(), "withdrawn": why,
                "on": today.isoformat()}  # fmt: skip
    try:
        claimed = deps.state.claim(key, "decision", decision, now, lease=WITHDRAW_LEASE)
    except Busy:
        return False  # someone is deciding it right now: their answer stands
    if isinstance(claimed, Done):
        return False
    if claimed.taken_over:  # another decision was interrupted: finishing it is its own caller's work
        deps.state.release(claimed)
        return False
    deps.state.complete(claimed)
    line = calendar_plan.withdrawn_line(why, today)
    proposal = proposals.load(deps.state, seen.proposal_id)
    blocks = answered_blocks(proposals.card(proposal)[1], line) if proposal else [text_section(line)]
    if seen.ts and deps.slack is not None:
        # As of the withdrawal: a late update of the card (a click's retried line) never replaces it.
        update = MessageUpdate(seen.channel or deps.settings.intake_channel, seen.ts, line, blocks, now)
        try:
            MessageVersions(deps.state.client, deps.state.table).show(deps.slack, update, now)
        except SlackUnavailable as exc:
            log.warning("could not update the withdrawn proposal's card: %s", exc)
    return True
