"""The daily tick (DESIGN.md §3, §6): registry + rules from S3, chain state from DynamoDB, one event
per move on the default bus. No Bedrock, no Slack: deciding is all it does."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError, ClientError

from ew.chain import Move
from ew.items import Item, Registry, item_to_row, load_registry
from ew.rules import Rules, parse_rules
from ew.settings import Settings
from ew.store import ChainStore
from ew.tick_plan import plan_tick
from ew.voice import Voice, parse_voice
from opskit.bulk_reads import bulk_load
from opskit.events import event_entry, put_all
from opskit.problems import DocumentError

log = logging.getLogger(__name__)

SOURCE_PREFIX = "expiry-watcher"
REGISTRY_KEY = "registry.csv"
RULES_KEY = "rules.txt"
VOICE_KEY = "voice.txt"


def event_source(prefix: str) -> str:
    """The EventBridge source of a stack's moves (template.yaml's EW_EVENT_SOURCE, which its moves rule
    matches): one per Prefix, so two stacks in one account never dispatch each other's moves."""
    return f"{SOURCE_PREFIX}.{prefix}"


class TickError(RuntimeError):
    """The tick could not do its job; the message says why in plain words."""


@dataclass
class TickReport:
    tick_date: date
    items: int = 0
    moves: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)  # the sheet's problems, as the admin reads them
    rows_skipped: int = 0  # rows left out for them (one row may have several problems)
    archived: int = 0
    forgotten: int = 0  # chain heads dropped: their cycle is over and the sheet has moved past it

    def as_dict(self) -> dict[str, Any]:
        return {
            "tick_date": self.tick_date.isoformat(),
            "items": self.items,
            "moves": dict(self.moves),
            "skipped": self.skipped,
            "rows_skipped": self.rows_skipped,
            "archived": self.archived,
            "heads_dropped": self.forgotten,
        }


@dataclass
class TickDeps:
    s3: Any
    events: Any
    store: ChainStore
    registry_bucket: str
    rules_bucket: str
    settings: Settings
    source: str  # the events' source: event_source(<the stack's Prefix>)


class UnreadableInput(TickError):
    """An input document (registry, rules, voice) is there, or should be, but cannot be read."""


# What each S3 refusal means for the operator, in plain words.
_READ_FAILURES = {
    "InvalidObjectState": "it is archived (Glacier) and S3 will not serve it until it is restored: restore "
    "it, or let drive-sync mirror it again (the bucket's lifecycle must never archive current objects)",
    "AccessDenied": "access denied: the function's role may not read it (see its ReadSources statement in "
    "template.yaml) or a bucket policy refuses it",
    "NoSuchBucket": "the bucket does not exist: check the stack's buckets and this function's environment",
}


def read_object(s3: Any, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when it does not exist (not mirrored yet). Any other failure raises
    UnreadableInput naming the object and what to do: the function fails, and its alarm sees it."""
    found = _get_object(s3, bucket, key)
    return found[0] if found else None


_NOT_MODIFIED = (b"", "")


def _get_object(s3: Any, bucket: str, key: str, unless_etag: str | None = None) -> tuple[bytes, str] | None:
    """(bytes, ETag); None when the object does not exist; `_NOT_MODIFIED` when its ETag is still
    `unless_etag` (S3 then sends no body)."""
    try:
        if unless_etag:
            response = s3.get_object(Bucket=bucket, Key=key, IfNoneMatch=unless_etag)
        else:
            response = s3.get_object(Bucket=bucket, Key=key)
        return response["Body"].read(), str(response.get("ETag", ""))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in ("NoSuchKey", "404"):
            return None
        if unless_etag and code in ("304", "NotModified"):
            return _NOT_MODIFIED
        reason = _READ_FAILURES.get(code) or f"S3 answered {code or 'an error'}: {error.get('Message', exc)}"
        raise UnreadableInput(f"cannot read {key} from s3://{bucket}: {reason}") from exc
    except BotoCoreError as exc:
        raise UnreadableInput(f"cannot read {key} from s3://{bucket}: {exc}") from exc


# The registry parsed by this container, by bucket and date order: (its ETag, the registry). A warm
# container re-running the tick (a retry, `ew simulate`'s next day) asks S3 for the object only if it
# changed (a 304 has no body) and skips the parse. Module memory lives exactly as long as the
# container's /tmp would, without writing 100,000 items to disk and reading them back.
_PARSED: dict[tuple[str, str | None], tuple[str, Registry]] = {}


def read_registry(s3: Any, bucket: str, date_order: str | None) -> Registry:
    """registry.csv, parsed; a parse of the same object (same ETag) is reused."""
    cached = _PARSED.get((bucket, date_order))
    found = _get_object(s3, bucket, REGISTRY_KEY, unless_etag=cached[0] if cached else None)
    if found is None:
        raise TickError("registry.csv is not in the registry bucket yet: has drive-sync run?")
    if found is _NOT_MODIFIED and cached:
        return cached[1]
    data, etag = found
    registry = load_registry(data, REGISTRY_KEY, date_order=date_order)
    _PARSED.clear()
    if etag:
        _PARSED[(bucket, date_order)] = (etag, registry)
    return registry


def read_rules(s3: Any, bucket: str) -> Rules:
    data = read_object(s3, bucket, RULES_KEY)
    if data is None:
        log.warning("rules.txt is not mirrored yet: using the built-in rules")
    # drive-sync mirrors only a doc that parses, so a parse error here means someone wrote to the
    # bucket by hand: failing loudly (alarm) beats guessing.
    return parse_rules(data.decode("utf-8-sig") if data else "", RULES_KEY)


def read_voice(s3: Any, bucket: str) -> Voice:
    """The wording in force: the built-in one before voice.txt is mirrored, or if one that does not
    parse got there by hand (drive-sync never mirrors one): better than no message at all."""
    data = read_object(s3, bucket, VOICE_KEY)
    try:
        return parse_voice(data.decode("utf-8-sig") if data else "", VOICE_KEY)
    except DocumentError as exc:
        log.error("voice.txt does not parse, using the built-in wording: %s", exc)
        return Voice()


def move_event(item: Item, move: Move, decided_at: datetime, source: str) -> dict[str, Any]:
    detail = {
        "item": item_to_row(item),
        "move": {
            "item_id": move.item_id,
            "move": move.move,
            "recipient": move.recipient,
            "days_left": move.days_left,
            "anchor": move.anchor,
            "cycle_expiry": move.cycle_expiry,
            "chain_index": move.chain_index,
            "escalated_from": move.escalated_from,
        },
        "decided_at": decided_at,
    }
    return event_entry(source, f"ew.{move.move}", detail)


def run_tick(deps: TickDeps, now: datetime) -> TickReport:
    today = now.astimezone(ZoneInfo(deps.settings.timezone)).date()
    report = TickReport(today)
    # Hundreds of thousands of small objects are made from here on, and none is garbage before the
    # tick ends: the cyclic collector is kept off them (benchmarks/README.md: it took a quarter of the
    # time of a 100,000-row tick, walking them again and again).
    with bulk_load() as loaded:
        registry = read_registry(deps.s3, deps.registry_bucket, deps.settings.date_order)
        report.items = len(registry.items)
        report.skipped = [str(p) for p in registry.problems]
        report.rows_skipped = registry.skipped_rows
        rules = read_rules(deps.s3, deps.rules_bucket)
        heads = deps.store.load_heads()
        plan = plan_tick(registry.items, rules, heads, today, deps.settings.admin)
        del heads
        loaded()
        # Archive first: a closed chain's pings must leave ew-pings before the new chain reuses index 0.
        report.archived = deps.store.archive(plan.archive)
        report.forgotten = deps.store.forget_heads(plan.forget)

        entries = [move_event(item, move, now, deps.source) for item, move in plan.moves]
        failed = put_all(deps.events, entries)
    report.moves = Counter(move.move for _, move in plan.moves)
    if failed:
        # Raising makes the scheduler retry the whole tick; dispatch's claims make the resent
        # events harmless, so nothing is sent twice and nothing is lost.
        ids = sorted({_item_id(entry) for entry in failed})
        raise TickError(f"{len(failed)} of {len(entries)} events were not accepted by EventBridge: {ids}")
    return report


def _item_id(entry: dict[str, Any]) -> str:
    return str(json.loads(entry["Detail"])["move"]["item_id"])
