"""drive-sync (DESIGN.md §3, §5): the registry sheet and the rules and voice Google Docs, mirrored to
`registry.csv`, `rules.txt` and `voice.txt` in the source buckets, never making things worse.

Each run, for each document: read it from Google, judge it as `ew check` does (`ew.sync_plan`), and
- when it does not read (a header without a required column, a doc that does not parse): keep it out,
  so the last good version stays in force, and tell the admin once;
- when it reads: write it only if its content changed (the SHA-256 of the bytes, kept in the object's
  own metadata, so the write and its hash land together: a crash right after the write leaves nothing
  to reconcile, and the next run sees the same hash and writes nothing), then tell the admin it is
  fixed if they were told it was broken.

Row problems do not block, nor does a column the watcher does not read that is doubled or unnamed:
they go to `problems.json` next to `registry.csv` (for the digest) and to the admin, once per new
problem.

A renewal typed into the sheet (an item's expiry moved later while its chain is open) closes the
chain: its open Slack cards say "Renewed in the sheet" and lose their buttons, and its pings go to the
archive. The renewals are written to the state table (`drive-sync#renewal`) before registry.csv, and
each is cleared only once done, so a crash anywhere leaves them for the next run; and registry.csv is
written before any chain is archived, so the tick never sees an old expiry with an emptied chain. Each
record names the pings it closes: once registry.csv is written the tick may archive the chain first
(a run where Slack would not update a card), and the cards are then found in the archive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from ew import sync_plan
from ew.audit import AuditLog
from ew.cards import slack_card
from ew.chain import ESCALATE, Move
from ew.click_rules import answered_blocks
from ew.daily_tick import read_object, read_voice
from ew.items import Item, Registry, item_from_row, item_to_row, load_registry
from ew.settings import Settings
from ew.store import SENT, SLACK, ChainStore
from ew.sync_plan import Checked
from ew.voice import Voice
from opskit.config import ConfigError
from opskit.google_api import GoogleError, GoogleSession, Retry
from opskit.google_docs import export_text, read_sheet
from opskit.message_versions import MessageUpdate, MessageVersions
from opskit.notices import Notices
from opskit.problems import DocumentError
from opskit.slack import SlackGateway, SlackUnavailable
from opskit.state import StateTable

log = logging.getLogger(__name__)

RENEWAL_PK = "drive-sync#renewal"
NOTICE = (
    "drive-sync#"  # notice subjects: drive-sync#registry, drive-sync#rules, drive-sync#voice, drive-sync#rows
)
BY = "drive-sync"  # who the audit trail says did it


@dataclass
class DriveSyncDeps:
    s3: Any
    registry_bucket: str
    rules_bucket: str
    settings: Settings
    google: Callable[[], GoogleSession]  # signs in on first use (reads the secret)
    retry: Retry
    notices: Notices
    store: ChainStore
    state: StateTable
    audit: AuditLog
    slack: SlackGateway | None
    clock: Callable[[], datetime]
    config_path: str = "/ew/config/"


@dataclass
class SyncReport:
    written: list[str] = field(default_factory=list)  # S3 keys written this run
    unchanged: list[str] = field(default_factory=list)
    kept_out: list[str] = field(default_factory=list)  # documents that do not read: last good stays
    unreadable: list[str] = field(default_factory=list)  # not shared, wrong ID, ...
    failed: list[str] = field(default_factory=list)  # Google did not answer in time: tried next run
    not_configured: list[str] = field(default_factory=list)
    rows_skipped: int = 0
    renewals: int = 0
    archived: int = 0
    cards_updated: int = 0
    told: list[str] = field(default_factory=list)  # what the admin was told, by subject line

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def run_sync(deps: DriveSyncDeps, now: datetime) -> SyncReport:
    report = SyncReport()
    settings = deps.settings
    if not settings.registry_sheet_id:
        raise ConfigError(f"{deps.config_path}registry_sheet_id is not set: drive-sync has no sheet to read")
    google = deps.google()
    registry: Registry | None = None

    checked = _read(deps, report, sync_plan.REGISTRY, lambda: _registry(deps, google))
    if checked is not None and _in_force(deps, report, checked):
        registry = checked.registry
    for name, doc_id in ((sync_plan.RULES, settings.rules_doc_id), (sync_plan.VOICE, settings.voice_doc_id)):
        if not doc_id:
            report.not_configured.append(name)
            continue
        checked = _read(deps, report, name, partial(_doc, deps, google, name, doc_id))
        if checked is not None:
            _in_force(deps, report, checked)

    if registry is not None:
        _close_renewed_chains(deps, registry, report)
    report.told = list(deps.notices.said)
    return report


# -- reading and judging ----------------------------------------------------------------------------


def _registry(deps: DriveSyncDeps, google: GoogleSession) -> Checked:
    settings = deps.settings
    header, rows = read_sheet(google, settings.registry_sheet_id, settings.registry_sheet_tab, deps.retry)
    return sync_plan.check_registry(header, rows, settings.date_order)


def _doc(deps: DriveSyncDeps, google: GoogleSession, name: str, doc_id: str) -> Checked:
    text = export_text(google, doc_id, f"{sync_plan.LABELS[name]} ({doc_id})", deps.retry)
    if name == sync_plan.RULES:
        return sync_plan.check_rules(text, deps.settings.date_order)
    return sync_plan.check_voice(text)


def _read(deps: DriveSyncDeps, report: SyncReport, name: str, read: Callable[[], Checked]) -> Checked | None:
    """The document judged, or None when Google would not give it (the admin is told if it is
    something they can fix; a Google outage is only logged and tried again next run)."""
    try:
        return read()
    except GoogleError as error:  # opskit.sheets.SheetsError is one too
        if error.transient:
            log.warning("%s could not be read this time: %s", name, error)
            report.failed.append(name)
            return None
        report.unreadable.append(name)
        subject, text = sync_plan.unreadable_message(name, str(error))
        deps.notices.problem(NOTICE + name, [str(error)], subject, text)
        return None


def _in_force(deps: DriveSyncDeps, report: SyncReport, checked: Checked) -> bool:
    """Mirror a document that reads; keep one that does not out. True when `checked` is in force."""
    name = checked.name
    if checked.blocking:
        report.kept_out.append(checked.key)
        lines = sync_plan.problem_lines(checked.blocking)
        subject, text = sync_plan.blocked_message(name, lines)
        deps.notices.problem(NOTICE + name, lines, subject, text)
        return False
    bucket = deps.registry_bucket if name == sync_plan.REGISTRY else deps.rules_bucket
    if name == sync_plan.REGISTRY:
        assert checked.registry is not None
        if stored_hash(deps.s3, bucket, checked.key) != checked.sha256:
            _record_renewals(deps, checked.registry)
    _put_if_changed(deps.s3, bucket, checked.key, checked.body, "text/csv" if name == sync_plan.REGISTRY
                    else "text/plain", report)  # fmt: skip
    if name == sync_plan.REGISTRY:
        _row_problems(deps, checked, report)
    subject, text = sync_plan.fixed_message(name)
    deps.notices.cleared(NOTICE + name, subject, text)
    return True


def _row_problems(deps: DriveSyncDeps, checked: Checked, report: SyncReport) -> None:
    problems = checked.row_problems
    report.rows_skipped = checked.registry.skipped_rows if checked.registry else 0
    body = sync_plan.problems_document(problems)
    _put_if_changed(deps.s3, deps.registry_bucket, sync_plan.PROBLEMS_KEY, body, "application/json", report)
    lines = sync_plan.problem_lines(problems)
    subject = NOTICE + "rows"
    if lines:
        deps.notices.each_new_line(
            subject, lines, lambda new: sync_plan.rows_message(new, report.rows_skipped)
        )
    else:
        deps.notices.cleared(subject, *sync_plan.rows_fixed_message())


# -- S3: write only what changed ---------------------------------------------------------------------

HASH_METADATA = "sha256"  # user metadata key (S3 returns it as x-amz-meta-sha256)


def stored_hash(s3: Any, bucket: str, key: str) -> str | None:
    """The content hash recorded with the object, None when there is no object (or no hash: an object
    put there by hand, which the next good version then replaces)."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return (head.get("Metadata") or {}).get(HASH_METADATA)


def _put_if_changed(s3: Any, bucket: str, key: str, body: bytes, kind: str, report: SyncReport) -> None:
    digest = sync_plan.content_hash(body)
    if stored_hash(s3, bucket, key) == digest:
        report.unchanged.append(key)
        return
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType=f"{kind}; charset=utf-8",
        Metadata={HASH_METADATA: digest},
    )
    report.written.append(key)


# -- renewals typed into the sheet -------------------------------------------------------------------


def _record_renewals(deps: DriveSyncDeps, registry: Registry) -> None:
    """Before the new registry.csv is written: note every item it renews that has pings of the
    closed cycle, so the work survives a crash after the write."""
    data = read_object(deps.s3, deps.registry_bucket, sync_plan.KEYS[sync_plan.REGISTRY])
    if data is None:
        return  # the first mirror: nothing was in force, so nothing was renewed
    try:
        before = load_registry(data, "registry.csv", date_order=deps.settings.date_order)
    except DocumentError:
        return  # written by hand and unreadable: the tick archives stale chains on its own
    now = deps.clock()
    current = registry.by_id()
    for renewal in sync_plan.renewals(before, registry):
        item = current[renewal.old.item_id]
        closed = sync_plan.closed_pings(item, [r.ping for r in deps.store.chain_pings(item.item_id)])
        if closed:
            # Which pings it closes, so that their cards are found even once the tick has archived them
            data_row = {
                "old": item_to_row(renewal.old),
                "new_expiry": renewal.new_expiry.isoformat(),
                "pings": [[p.cycle_expiry.isoformat(), p.chain_index] for p in closed],
            }
            deps.state.put(RENEWAL_PK, item.item_id, data_row, now)


def _close_renewed_chains(deps: DriveSyncDeps, registry: Registry, report: SyncReport) -> None:
    """Every recorded renewal that the registry in force still shows: update the open cards, archive
    the chain, clear the record. A renewal the sheet took back meanwhile is dropped."""
    pending = deps.state.rows(RENEWAL_PK)
    if not pending:
        return
    items = registry.by_id()
    voice = read_voice(deps.s3, deps.rules_bucket)
    for item_id, record in pending:
        data = record.data
        old = item_from_row(data["old"])
        item = items.get(item_id)
        if item is None or item.expiry_date <= old.expiry_date:
            deps.state.forget(RENEWAL_PK, item_id)
            continue
        if deps.store.renewed(item_id, old.expiry_date):
            # A click renewed this cycle and its queued write-back changed the sheet: its ack and audit
            # row record the renewal and its card says who, so no second record here; only the chain
            # is closed, in case the click died between its ack and its archive.
            records = deps.store.chain_pings(item_id)
            report.archived += deps.store.archive(sync_plan.closed_pings(item, [r.ping for r in records]))
            deps.state.forget(RENEWAL_PK, item_id)
            continue
        noted = [(date.fromisoformat(cycle), int(index)) for cycle, index in data.get("pings", [])]
        if _close_chain(deps, old, item, noted, record.at, voice, report):
            # At the time the renewal was recorded, not now: a run that died after this row and before
            # the forget below is finished by the next one, which then writes this same row again.
            deps.audit.record(
                item_id, "sheet_renewal", BY, {"expiry_date": old.expiry_date},
                {"expiry_date": item.expiry_date}, record.at,
            )  # fmt: skip
            deps.state.forget(RENEWAL_PK, item_id)
            report.renewals += 1


def _close_chain(
    deps: DriveSyncDeps,
    old: Item,
    item: Item,
    noted: list[tuple[date, int]],
    noted_at: datetime,
    voice: Voice,
    report: SyncReport,
) -> bool:
    """Cards first, then the archive: a card that Slack would not update keeps the renewal for the
    next run. False when that happened. The cards are those of the closed pings still in ew-pings,
    and of the pings noted with the renewal that are in the archive already (the tick archives a
    chain whose expiry moved, maybe while a card Slack would not update here is still waiting).
    Each card's update is of the moment the renewal was noted (`noted_at`, the same on every run
    that retries it): a card that an answer changed since keeps that answer (opskit.message_versions)."""
    cards = MessageVersions(deps.state.client, deps.state.table)
    records = deps.store.chain_pings(item.item_id)
    shut = set(sync_plan.closed_pings(item, [r.ping for r in records]))
    closed = [r for r in records if r.ping in shut]
    present = {(r.ping.cycle_expiry, r.ping.chain_index) for r in closed}
    gone = [
        found
        for cycle, index in noted
        if (cycle, index) not in present
        and (found := deps.store.archived(item.item_id, cycle, index)) is not None
    ]
    line = sync_plan.renewed_line(item.expiry_date)
    for record in [*closed, *gone]:
        ping = record.ping
        if record.channel != SLACK or record.status != SENT or not record.message_ref or deps.slack is None:
            continue
        channel, _, ts = record.message_ref.partition("/")
        cycle_item = (
            old if old.expiry_date == ping.cycle_expiry else replace(old, expiry_date=ping.cycle_expiry)
        )
        move = Move(
            item_id=ping.item_id,
            move=ping.move,
            recipient=ping.recipient,
            days_left=(cycle_item.anchor - ping.sent_on).days,
            anchor=cycle_item.anchor,
            cycle_expiry=ping.cycle_expiry,
            chain_index=ping.chain_index,
            escalated_from=old.owner if ping.move == ESCALATE else None,
        )
        _, blocks = slack_card(cycle_item, move, voice)
        update = MessageUpdate(channel, ts, line, answered_blocks(blocks, line), noted_at)
        try:
            cards.show(deps.slack, update, deps.clock())
        except SlackUnavailable as exc:
            log.warning("could not update the card of %s after a sheet renewal: %s", item.item_id, exc)
            return False
        report.cards_updated += 1
    report.archived += deps.store.archive([r.ping for r in closed])
    return True
