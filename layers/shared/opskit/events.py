"""Sending events to an EventBridge bus without losing any quietly.

PutEvents answers 200 even when some entries failed: the failures are only in the response body. `put_all`
re-sends exactly those entries (re-sending the whole batch would duplicate the ones that got through) and
hands back whatever still failed, so the caller can report it instead of dropping it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from botocore.exceptions import ClientError

MAX_BATCH = 10  # PutEvents takes at most 10 entries per call
MAX_ENTRY_BYTES = 256 * 1024  # per entry, and for all entries of one call together
# Only these are worth another try; the rest (MalformedDetail, AccessDeniedException, ...) fail every time.
RETRYABLE = frozenset({"InternalFailure", "ThrottlingException"})
BACKOFF_SECONDS = 0.2


def _json_default(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"cannot put a {type(value).__name__} into JSON")


def dumps(value: Any) -> str:
    """Compact JSON with dates and datetimes as ISO strings (the form every consumer parses back)."""
    return json.dumps(value, default=_json_default, separators=(",", ":"), ensure_ascii=False)


def entry_size(entry: Mapping[str, Any]) -> int:
    """Entry size as EventBridge counts it: UTF-8 bytes of Source, DetailType, Detail, Resources (+14 for
    Time)."""
    texts = [entry.get("Source", ""), entry.get("DetailType", ""), entry.get("Detail", "")]
    texts += list(entry.get("Resources", []))
    return sum(len(t.encode("utf-8")) for t in texts) + (14 if "Time" in entry else 0)


def event_entry(source: str, detail_type: str, detail: Mapping[str, Any], bus: str = "default") -> dict:
    """One PutEvents entry. Raises ValueError when it is too big for EventBridge (put the data in S3
    and send its key instead)."""
    entry = {"Source": source, "DetailType": detail_type, "Detail": dumps(detail), "EventBusName": bus}
    size = entry_size(entry)
    if size > MAX_ENTRY_BYTES:
        raise ValueError(
            f'the "{detail_type}" event is {size} bytes; EventBridge takes at most {MAX_ENTRY_BYTES} bytes '
            "per event: store the payload elsewhere (e.g. S3) and send a reference"
        )
    return entry


def _batches(entries: list[dict]) -> list[list[dict]]:
    """Groups of at most 10 entries and 256 KB together."""
    batches: list[list[dict]] = []
    current: list[dict] = []
    current_size = 0
    for entry in entries:
        size = entry_size(entry)
        if current and (len(current) == MAX_BATCH or current_size + size > MAX_ENTRY_BYTES):
            batches.append(current)
            current, current_size = [], 0
        current.append(entry)
        current_size += size
    if current:
        batches.append(current)
    return batches


Failure = tuple[dict, str, str]  # (entry as sent, ErrorCode, ErrorMessage)


def _send(client: Any, batch: list[dict]) -> list[Failure]:
    """One PutEvents call; returns the entries that failed."""
    try:
        response = client.put_events(Entries=batch)
    except ClientError as exc:
        # botocore has already retried throttling of the call itself; what is left fails the whole batch.
        error = exc.response.get("Error", {})
        return [(entry, error.get("Code", "Unknown"), error.get("Message", "")) for entry in batch]
    if not response.get("FailedEntryCount"):
        return []
    # Response entries line up with the request: same order, same length.
    return [
        (entry, result["ErrorCode"], result.get("ErrorMessage", ""))
        for entry, result in zip(batch, response["Entries"], strict=True)
        if result.get("ErrorCode")
    ]


def put_all(
    client: Any,
    entries: list[dict],
    max_attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict]:
    """Send every entry (from `event_entry`); return those that still failed after `max_attempts` tries,
    each a copy of the entry plus "ErrorCode" and "ErrorMessage" (drop those two keys to send it again).
    An empty list means everything reached the bus."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    given_up: list[Failure] = []
    for batch in _batches(entries):
        pending = batch
        for attempt in range(1, max_attempts + 1):
            failures = _send(client, pending)
            retry = [f for f in failures if f[1] in RETRYABLE]
            given_up += [f for f in failures if f[1] not in RETRYABLE]
            if not retry:
                break
            if attempt == max_attempts:
                given_up += retry
                break
            sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            pending = [entry for entry, _, _ in retry]
    return [{**entry, "ErrorCode": code, "ErrorMessage": message} for entry, code, message in given_up]
