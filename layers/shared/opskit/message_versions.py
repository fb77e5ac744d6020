"""Updates of one Slack message that arrive out of order show the newest fact, never an older one.

A message can be updated by several writers, some of them late: a retry queued when Slack refused (it
runs a minute later, and asynchronous invocations are not ordered), a task, a scheduled run. Each update
names its *version*: the moment of the fact it shows (an answer's time, a renewal's). It is recorded in
a small key-value table (the claims table: pk `message#<channel>#<ts>`), one attribute per version
holding what that version shows, and the message is then updated with the *newest* version recorded:
its own, or a newer one's. So a late update never puts an older line back; it shows the newer one again.

Why one attribute per version rather than one conditional "version" attribute: recording is then an
unconditional write that can never lower what is there (the newest is whichever attribute is newest),
so it can ride in another write's transaction (a click's own answer) without ever failing it. A
message holds one attribute per fact shown on it (a few); the same update again (a retry) rewrites its
own attribute and shows the same. An update that states no fact (version None) records nothing and
shows the newest recorded if there is one.

Races. After its Slack call a writer reads the row again: if a newer version was recorded meanwhile,
that one's Slack call may have landed first, so the newer content is sent again (until the row is
still). A writer that knows it shows the newest fact (recorded in its own transaction) may skip the
read before and, at the price of that race, the one after (`show(recorded=True)` keeps the one after).

A writer that dies between recording and its Slack call leaves its version recorded but not shown: the
message keeps what it showed. Its retry (same version) shows it; so does any later update of the
message, newer or older, since every update shows the newest recorded.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

# A late update comes within minutes (retries) or hours (a scheduled run that retries); after this the
# row expires by TTL and a later update simply records itself again.
KEEP = timedelta(days=30)
_DIGITS = 17  # microseconds since 1970, zero-padded: attribute names then sort as the moments do
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_FACT = "v" + "0" * _DIGITS  # an update that states no fact ranks below every version
# Newer versions recorded during our own Slack call that we show too, before leaving it to their writers.
MAX_ROUNDS = 3
_CONFLICT_ATTEMPTS = 4


class Messages(Protocol):
    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class MessageUpdate:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    version: datetime | None  # the moment of the fact it shows; None: states no fact (ranks lowest)

    def as_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict (an asynchronous task's payload); `from_dict` reads it back."""
        moment = self.version.astimezone(UTC).isoformat() if self.version else None
        return {"channel": self.channel, "ts": self.ts, "text": self.text, "blocks": self.blocks,
                "version": moment}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MessageUpdate:
        """A payload queued before versions existed has none: it ranks below every recorded version."""
        moment = data.get("version")
        version = datetime.fromisoformat(moment) if moment else None
        return cls(str(data["channel"]), str(data["ts"]), str(data["text"]), list(data["blocks"]), version)


@dataclass(frozen=True)
class Shown:
    own: bool  # False: a newer version was recorded, and its content was shown instead
    version: str  # the attribute name of the version shown (`v<microseconds>`)


class MessageVersions:
    def __init__(self, client: Any, table: str, keep: timedelta = KEEP):
        self.client = client
        self.table = table
        self.keep = keep

    def record(self, update: MessageUpdate, now: datetime) -> dict[str, Any]:
        """The TransactWriteItems entry that records `update`, for a writer that records it together
        with the fact it shows (and then calls Slack itself, or `show(..., recorded=True)`)."""
        return {"Update": self._update_request(update, now)}

    def show(self, slack: Messages, update: MessageUpdate, now: datetime, *, recorded: bool = False) -> Shown:
        """Record `update`, then update the message with the newest version recorded, and again with a
        newer one recorded during that Slack call. An update of no fact (version None) records nothing.
        `recorded`: its version is recorded already (in the writer's transaction) and is the newest
        fact: sent as is, then checked. Raises SlackUnavailable (nothing else is sent) and DynamoDB's
        errors."""
        own = _name(update.version)
        newest: str = own
        content: dict[str, Any] = {"text": update.text, "blocks": update.blocks}
        if update.version is None:  # outranks nothing, so nothing to record: only a read
            found, recorded_content = _newest(self._read(update.channel, update.ts) or {})
            if found:
                newest, content = found, recorded_content
        elif not recorded:
            newest, content = _newest(self._write(update, now))
        for _ in range(MAX_ROUNDS):
            slack.update(update.channel, update.ts, content["text"], content["blocks"])
            shown = newest
            newest, content = _newest(self._read(update.channel, update.ts) or {})
            if newest <= shown:
                return Shown(shown == own, shown)
            log.info("%s/%s got version %s during our update: showing it", update.channel, update.ts, newest)
        log.warning("%s/%s keeps getting newer versions: left to their writers", update.channel, update.ts)
        return Shown(False, newest)

    # -- plumbing ---------------------------------------------------------------------------------

    def _key(self, channel: str, ts: str) -> dict[str, Any]:
        return {"pk": {"S": f"message#{channel}#{ts}"}, "sk": {"S": "versions"}}

    def _update_request(self, update: MessageUpdate, now: datetime) -> dict[str, Any]:
        content = json.dumps({"text": update.text, "blocks": update.blocks}, default=str)
        return {
            "TableName": self.table,
            "Key": self._key(update.channel, update.ts),
            "UpdateExpression": "SET #v = :content, expires_at = :expires",
            "ExpressionAttributeNames": {"#v": _name(update.version)},
            "ExpressionAttributeValues": {
                ":content": {"S": content},
                ":expires": {"N": str(int((now + self.keep).timestamp()))},
            },
        }

    def _write(self, update: MessageUpdate, now: datetime) -> dict[str, Any]:
        """Record `update` and return the whole row as it is now (one round trip)."""
        request = {**self._update_request(update, now), "ReturnValues": "ALL_NEW"}
        attempt = 0
        while True:
            try:
                attributes: dict[str, Any] = self.client.update_item(**request)["Attributes"]
                return attributes
            except ClientError as exc:
                # A transaction recording another version of this message is in flight: a moment.
                code = exc.response.get("Error", {}).get("Code")
                attempt += 1
                if code != "TransactionConflictException" or attempt == _CONFLICT_ATTEMPTS:
                    raise
                time.sleep(0.05 * 2**attempt)

    def _read(self, channel: str, ts: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.client.get_item(
            TableName=self.table, Key=self._key(channel, ts), ConsistentRead=True
        ).get("Item")
        return found


def _name(version: datetime | None) -> str:
    if version is None:
        return _NO_FACT
    micros = (version - _EPOCH) // timedelta(microseconds=1)
    return f"v{micros:0{_DIGITS}d}"


def _newest(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(name, content) of the newest version in `row`; ("", {}) when none is recorded."""
    names = [name for name in row if name.startswith("v") and len(name) == _DIGITS + 1]
    if not names:
        return "", {}
    newest = max(names)
    return newest, json.loads(row[newest]["S"])
