"""Writes to the registry sheet (DESIGN.md §8), run in an asynchronous invocation of ack-handler,
never on Slack's clock.

A renewal writes the new expiry and `last_renewed` (if the sheet has that optional column) into the
row found by `item_id` just before writing; a row whose expiry changed since the click is left alone,
the person who clicked is told, and the audit trail says why. An approved proposal is appended with
the next item_id.

Lambda retries a failed or killed asynchronous invocation, and a click taken over after a crash may
queue its task twice, so each task is claimed in the state table (a lease, as clicks are) and does its
work once: one sheet write or one appended row, one audit row (keyed by the claim's time), however
many times it runs. The item_id an append chooses is noted in the claim before the row goes in, so an
attempt killed after appending is finished by the retry, which finds that row instead of adding
another.

Two approvals at the same moment run two appends that read the same sheet: each notes its item_id and
then reserves it in the state table (a conditional put per id) before the row goes in, and steps over an
id another proposal reserved, so they never add the same id twice. A retry tries its noted id first. A
reservation is kept even if its append dies for good: that id is then a gap in the numbering.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from ew.audit import AuditLog
from ew.click_rules import answered_blocks
from ew.items import is_email
from ew.proposals import Proposal, card, decision_line, next_item_id
from opskit.dates import human_date
from opskit.message_versions import MessageUpdate, MessageVersions
from opskit.sheets import RowChanged, RowNotFound, SheetsError
from opskit.slack import SlackGateway, SlackUnavailable
from opskit.state import Done, Held, StateTable
from opskit.table import normalise_column

log = logging.getLogger(__name__)


# Columns a renewal writes when the sheet has them (DESIGN.md §5: `last_renewed` is optional). A sheet
# without one is not an error: the write-back skips it and the audit row says so.
OPTIONAL_COLUMNS = ("last_renewed",)
# ack-handler times out after 15 s (template.yaml) and Lambda's first retry of an asynchronous
# invocation comes about a minute later: a claim still held after this long belongs to a dead attempt.
TASK_LEASE = timedelta(seconds=30)
# Ids reserved by approvals not (yet) in the sheet that one append steps over before giving up: a few at
# most in practice (approvals in flight, appends that died for good).
MAX_RESERVED_SKIPPED = 100


class Sheet(Protocol):
    def header(self) -> list[str]: ...

    def update_if_unchanged(
        self, key_column: str, key: str, expected: dict[str, str], changes: dict[str, str]
    ) -> int: ...


def write_renewal(
    task: dict[str, Any],
    sheet: Sheet,
    audit: AuditLog,
    slack: SlackGateway | None,
    state: StateTable,
    clock: Callable[[], Any],
) -> str:
    """Returns "written" or "refused" (also when run again after it was done); a Google failure
    raises (the async invoke retries, then DLQ)."""
    item_id, by = task["item_id"], task.get("by", "")
    old, new = date.fromisoformat(task["old_expiry"]), date.fromisoformat(task["new_expiry"])
    # A renewal is once per cycle, so the cycle names its write-back.
    claimed = state.claim(f"sheet#{item_id}#{old.isoformat()}", "renewal", {}, clock(), lease=TASK_LEASE)
    if isinstance(claimed, Done):
        return str(claimed.data.get("result", "written"))
    with state.holding(claimed):
        wanted = {"expiry_date": new.isoformat(), "last_renewed": task["renewed_on"]}
        present = {normalise_column(name) for name in sheet.header()}
        skipped = [name for name in OPTIONAL_COLUMNS if normalise_column(name) not in present]
        changes = {name: value for name, value in wanted.items() if name not in skipped}
        try:
            # A retry after a write that went through finds the new values there: nothing is written.
            row = sheet.update_if_unchanged("item_id", item_id, {"expiry_date": old.isoformat()}, changes)
        except (RowChanged, RowNotFound) as exc:
            before, reason = {"expiry_date": old}, {"reason": str(exc)}
            audit.record(item_id, "sheet_write_refused", by, before, reason, claimed.at)
            _tell(slack, by, f"I could not write the renewal of {item_id} (new expiry {human_date(new)}) to "
                             f"the sheet: {exc}. Please update the row by hand.")  # fmt: skip
            state.remember(claimed, {"result": "refused"})
            return "refused"
        after: dict[str, Any] = {**changes, "row": row}
        if skipped:
            after["not_in_sheet"] = skipped  # as an approved proposal's append says it
        audit.record(item_id, "sheet_write", by, {"expiry_date": old}, after, claimed.at)
        state.remember(claimed, {"result": "written"})
    return "written"


def _tell(slack: SlackGateway | None, user: str, text: str) -> None:
    if slack is None or not user or is_email(user):
        log.warning("%s", text)
        return
    try:
        slack.post(user, text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
    except SlackUnavailable as exc:
        log.warning("could not tell %s: %s (%s)", user, text, exc)


class Table(Sheet, Protocol):
    def read(self) -> tuple[list[str], list[list[str]]]: ...

    def find_row(self, key_column: str, key: str) -> tuple[int, dict[str, str]]: ...

    def append(self, row: Mapping[str, str]) -> int: ...


def append_approved(
    task: dict[str, Any],
    sheet: Table,
    audit: AuditLog,
    slack: SlackGateway | None,
    state: StateTable,
    clock: Callable[[], Any],
) -> str:
    """Append an approved proposal with the next item_id in the sheet's numbering, once however often
    the task runs; returns that id."""
    claimed = state.claim(f"append#{task['proposal_id']}", "row", {}, clock(), lease=TASK_LEASE)
    if isinstance(claimed, Done):
        return str(claimed.data.get("item_id", ""))
    with state.holding(claimed):
        header, rows = sheet.read()
        keys = [normalise_column(h) for h in header]
        if normalise_column("item_id") not in keys:
            raise SheetsError("the sheet has no item_id column: cannot add the approved row")
        id_column = keys.index(normalise_column("item_id"))
        ids = [row[id_column] for row in rows if len(row) > id_column and row[id_column]]
        fields = {
            name: value for name, value in task["fields"].items() if normalise_column(name) in keys and value
        }
        dropped = sorted(set(task["fields"]) - set(fields) - {n for n, v in task["fields"].items() if not v})
        item_id, proposal_id = str(claimed.data.get("item_id") or ""), task["proposal_id"]
        number = None
        if item_id in ids and _reserved_by(state, item_id, proposal_id, clock()):
            number = _appended_before(sheet, item_id, fields)
        if number is None:  # not appended yet (or the id a dead attempt chose went to another row)
            item_id = _reserve_item_id(state, claimed, ids, proposal_id, clock())
            number = sheet.append({"item_id": item_id, **fields})
        after = {**fields, "row": number, "proposal": task["proposal_id"], "not_in_sheet": dropped}
        audit.record(item_id, "sheet_append", task.get("by", ""), {}, after, claimed.at)
        line = decision_line(
            task["decision"],
            task.get("by", ""),
            claimed.at,
            f": added to the sheet as {item_id} (row {number})",
        )
        _update_card(slack, task, line, state, claimed.at)
    return item_id


def _reserve_item_id(
    state: StateTable, claimed: Held, ids: list[str], proposal_id: str, now: datetime
) -> str:
    """An item_id for this proposal's row that no other append can also choose: the one an earlier
    attempt noted while it is not in the sheet, else the next in the sheet's numbering that no other
    proposal has reserved. Another append may have read the same sheet and be about to add its row;
    one that died for good keeps its id reserved too (a gap in the numbering, never a duplicate)."""
    taken = list(ids)
    candidate = str(claimed.data.get("item_id") or "")
    if not candidate or candidate in taken:
        candidate = next_item_id(taken)
    for _ in range(MAX_RESERVED_SKIPPED):
        if claimed.data.get("item_id") != candidate:
            # Noted before it is reserved, and reserved before the row goes in: a retry after a crash
            # at any point tries this same id first (see the docstring).
            state.note(claimed, {"item_id": candidate})
        if _reserved_by(state, candidate, proposal_id, now):
            return candidate
        taken.append(candidate)
        candidate = next_item_id(taken)
    raise RuntimeError(
        f"could not find a free item_id for proposal {proposal_id}: the next "
        f"{MAX_RESERVED_SKIPPED} are reserved by other approvals that are not in the sheet"
    )


def _reserved_by(state: StateTable, item_id: str, proposal_id: str, now: datetime) -> bool:
    """Whether `item_id` is this proposal's: reserved now, or by an earlier attempt of its append."""
    reserved = state.reserve(f"item-id#{item_id}", "append", {"proposal": proposal_id}, now)
    return reserved.data.get("proposal") == proposal_id


def _appended_before(sheet: Table, item_id: str, fields: Mapping[str, str]) -> int | None:
    """The number of the row an earlier attempt appended under `item_id`, or None when that id's row
    is someone else's (its item differs from the approved one)."""
    number, row = sheet.find_row("item_id", item_id)
    cells = {normalise_column(name): value.strip() for name, value in row.items()}
    return number if cells.get(normalise_column("item")) == fields.get("item", "").strip() else None


def _update_card(
    slack: SlackGateway | None, task: dict[str, Any], line: str, state: StateTable, at: datetime
) -> None:
    """The card says where the row went, as of `at` (the append's claim): a newer update of the card is
    never replaced, and the click's own line ("adding it to the sheet"), if it lands late, is replaced
    by this one again (opskit.message_versions)."""
    if slack is None or not task.get("channel") or not task.get("ts"):
        return
    proposal = Proposal(task["proposal_id"], task["fields"], task.get("source", ""))
    _, blocks = card(proposal)
    update = MessageUpdate(task["channel"], task["ts"], line, answered_blocks(blocks, line), at)
    try:
        MessageVersions(state.client, state.table).show(slack, update, at)
    except SlackUnavailable as exc:
        log.warning("could not update the proposal card: %s", exc)
