"""drive-sync's decisions (DESIGN.md §3, §5), pure: is a document fit to mirror, what is its content
hash, which items did the sheet renew, and what the admin is told. The service (`ew.drive_sync`) does
the reading and writing around them.

A document is judged exactly as `ew check` judges it (ew.items.load_registry, ew.rules.parse_rules,
ew.voice.parse_voice). A *blocking* problem (a header without a required column or with a column the
watcher reads twice, a rules or voice doc that does not parse) keeps the document out: the last good
version stays in force. Problems in single rows do not block: the tick skips those rows, as it always
does; nor does a column the watcher does not read that is doubled or unnamed (reported like a row).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from ew.chain import Ping, split_chain
from ew.daily_tick import REGISTRY_KEY, RULES_KEY, VOICE_KEY
from ew.items import Item, Registry, load_registry
from ew.rules import parse_rules
from ew.voice import parse_voice
from opskit.dates import human_date
from opskit.google_docs import grid_csv
from opskit.problems import DocumentError, Problem

REGISTRY, RULES, VOICE = "registry", "rules", "voice"
PROBLEMS_KEY = "problems.json"  # the registry's non-blocking problems, next to registry.csv (for the digest)
DATE_COLUMNS = ("expiry_date", "notice_date", "last_renewed")
LABELS = {REGISTRY: "the registry sheet", RULES: "the rules doc", VOICE: "the voice doc"}
KEYS = {REGISTRY: REGISTRY_KEY, RULES: RULES_KEY, VOICE: VOICE_KEY}
LISTED = 15  # problems listed in one message; the rest are counted


@dataclass(frozen=True)
class Checked:
    """One document as read from Google, judged, and the bytes that would be mirrored."""

    name: str  # REGISTRY, RULES or VOICE
    body: bytes
    blocking: tuple[Problem, ...] = ()
    row_problems: tuple[Problem, ...] = ()
    registry: Registry | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return KEYS[self.name]

    @property
    def sha256(self) -> str:
        return content_hash(self.body)


def content_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def sheet_csv(header: list[str], rows: list[list[str]]) -> bytes:
    """The sheet as registry.csv: cells as the sheet shows them, serial numbers in date columns as ISO
    dates, blank rows kept (row numbers stay the sheet's)."""
    return grid_csv(header, rows, DATE_COLUMNS)


def check_registry(header: list[str], rows: list[list[str]], date_order: str | None) -> Checked:
    body = sheet_csv(header, rows)
    try:
        registry = load_registry(body, REGISTRY_KEY, date_order=date_order)
    except DocumentError as exc:
        return Checked(REGISTRY, body, blocking=tuple(exc.problems))
    return Checked(REGISTRY, body, row_problems=tuple(registry.problems), registry=registry)


def check_rules(text: str, date_order: str | None) -> Checked:
    body = text.encode("utf-8")
    try:
        parse_rules(text, RULES_KEY, date_order)
    except DocumentError as exc:
        return Checked(RULES, body, blocking=tuple(exc.problems))
    return Checked(RULES, body)


def check_voice(text: str) -> Checked:
    body = text.encode("utf-8")
    try:
        parse_voice(text, VOICE_KEY)
    except DocumentError as exc:
        return Checked(VOICE, body, blocking=tuple(exc.problems))
    return Checked(VOICE, body)


def problems_document(problems: Sequence[Problem]) -> bytes:
    """problems.json: the row problems of the registry in force, for the weekly digest. Only the
    problems are in it, so it changes (and is written) only when they do, not with every sheet edit."""
    data = {
        "count": len(problems),
        "problems": [{"where": p.where, "message": p.message} for p in problems],
    }
    return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


# -- renewals typed into the sheet ----------------------------------------------------------------


@dataclass(frozen=True)
class Renewal:
    old: Item  # the row as it was mirrored before
    new_expiry: date


def renewals(before: Registry, after: Registry) -> list[Renewal]:
    """Items whose expiry the sheet moved later: someone renewed them by typing the new date."""
    old = before.by_id()
    found = []
    for item in after.items:
        was = old.get(item.item_id)
        if was is not None and item.expiry_date > was.expiry_date:
            found.append(Renewal(was, item.expiry_date))
    return found


def closed_pings(item: Item, pings: Sequence[Ping]) -> list[Ping]:
    """The pings a sheet renewal closes: those of earlier cycles than the item's expiry now (the same
    split the daily tick makes; later cycles, from a click renewal beyond the sheet, are the tick's)."""
    _, stale = split_chain(item, pings, ())
    return [p for p in stale if p.cycle_expiry < item.expiry_date]


def renewed_line(new_expiry: date) -> str:
    """The line that replaces an open card's buttons."""
    return f":white_check_mark: Renewed in the sheet: new expiry {human_date(new_expiry)}."


# -- what the admin reads --------------------------------------------------------------------------


def problem_lines(problems: Sequence[Problem]) -> list[str]:
    """Each problem as `ew check` prints it, less the file name (the message names the document)."""
    return [f"{p.where}: {p.message}" for p in problems]


def _listed(lines: Sequence[str]) -> str:
    shown = [f"• {line}" for line in lines[:LISTED]]
    if len(lines) > LISTED:
        shown.append(f"… and {len(lines) - LISTED} more")
    return "\n".join(shown)


def blocked_message(name: str, lines: Sequence[str]) -> tuple[str, str]:
    """(subject, text) when a document is kept out because it does not read."""
    label = LABELS[name]
    keep = {
        REGISTRY: "The watcher keeps using the last version that read cleanly",
        RULES: "The watcher keeps using the last rules that read cleanly",
        VOICE: "Messages keep the last wording that read cleanly",
    }[name]
    subject = f"Expiry Watcher: {label} has a problem and was not taken in"
    text = (
        f"{label[0].upper()}{label[1:]} was not taken in: {len(lines)} problem"
        f"{'s' if len(lines) != 1 else ''} to fix.\n{_listed(lines)}\n\n"
        f"{keep} until it is fixed. You will hear from me again when it is."
    )
    return subject, text


def unreadable_message(name: str, reason: str) -> tuple[str, str]:
    """(subject, text) when a document or calendar cannot be read at all (not shared, wrong ID)."""
    label = LABELS.get(name, name)
    subject = f"Expiry Watcher cannot read {label}"
    text = f"I cannot read {label}: {reason}.\n\nUntil then the last version I read stays in force."
    return subject, text


def fixed_message(name: str) -> tuple[str, str]:
    label = LABELS.get(name, name)
    subject = f"Expiry Watcher: {label} is fixed"
    return subject, f"{label[0].upper()}{label[1:]} reads cleanly again and is now in force."


def rows_message(new: Sequence[str], total: int) -> tuple[str, str]:
    """(subject, text) for registry problems newly found that do not block: bad rows (skipped, the
    rest still runs) or a column the watcher does not read, doubled or unnamed (`total` 0: no row is
    skipped)."""
    problems = f"{len(new)} new problem{'s' if len(new) != 1 else ''} in the registry sheet"
    if not total:
        subject = "Expiry Watcher: the registry sheet needs fixing"
        return subject, f"{problems} (no row is skipped; the sheet is in force):\n{_listed(new)}"
    subject = "Expiry Watcher: rows in the registry sheet need fixing"
    rows = "row" if total == 1 else "rows"
    text = (
        f"{problems} ({total} {rows} skipped in all until fixed; the rest of the sheet still runs):\n"
        f"{_listed(new)}"
    )
    return subject, text


def rows_fixed_message() -> tuple[str, str]:
    return (
        "Expiry Watcher: the registry sheet reads cleanly",
        # Said after fixed rows, columns or an emptied sheet alike: nothing in the sheet is left out now.
        "The registry sheet reads cleanly again: every row and column is read.",
    )
