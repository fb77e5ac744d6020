"""The audit trail (`ew-audit`): one row per write of any kind, who did it, before and after."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

_CONFLICT_ATTEMPTS = 4


@dataclass(frozen=True)
class AuditEntry:
    item_id: str
    ts: str
    action: str
    by_user: str
    before: dict[str, Any]
    after: dict[str, Any]


class AuditLog:
    def __init__(self, client: Any, table: str):
        self.client = client
        self.table = table

    def record(
        self,
        item_id: str,
        action: str,
        by_user: str,
        before: Mapping[str, Any],
        after: Mapping[str, Any],
        at: datetime,
        *,
        also: Sequence[Mapping[str, Any]] = (),
    ) -> AuditEntry:
        """Write the row; with `also` (more TransactWriteItems entries, unconditional) in one
        transaction with them, so they land together or not at all."""
        entry, request = self.entry(item_id, action, by_user, before, after, at)
        if not also:
            self.client.put_item(**request)
            return entry
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            try:
                self.client.transact_write_items(TransactItems=[{"Put": request}, *map(dict, also)])
                return entry
            except ClientError as exc:
                # Another write of one of those items was in flight at that moment: try again shortly.
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if "TransactionConflict" not in reasons or attempt == _CONFLICT_ATTEMPTS:
                    raise
                time.sleep(0.05 * 2**attempt)
        return entry

    def entry(
        self,
        item_id: str,
        action: str,
        by_user: str,
        before: Mapping[str, Any],
        after: Mapping[str, Any],
        at: datetime,
    ) -> tuple[AuditEntry, dict[str, Any]]:
        """The entry and its PutItem request, for a caller that writes it in its own transaction (so
        the write it audits and its audit row land together or not at all)."""
        # Microseconds plus the action keep two writes in the same instant apart.
        ts = f"{at.astimezone(UTC).isoformat(timespec='microseconds')}#{action}"
        entry = AuditEntry(item_id, ts, action, by_user, dict(before), dict(after))
        request = {
            "TableName": self.table,
            "Item": {
                "item_id": {"S": item_id},
                "ts": {"S": ts},
                "action": {"S": action},
                "by_user": {"S": by_user or "unknown"},
                "before": {"S": json.dumps(entry.before, default=str, sort_keys=True)},
                "after": {"S": json.dumps(entry.after, default=str, sort_keys=True)},
            },
        }
        return entry, request

    def for_item(self, item_id: str) -> list[AuditEntry]:
        rows = self.client.query(
            TableName=self.table,
            KeyConditionExpression="item_id = :i",
            ExpressionAttributeValues={":i": {"S": item_id}},
        )["Items"]
        return [
            AuditEntry(
                r["item_id"]["S"], r["ts"]["S"], r["action"]["S"], r["by_user"]["S"],
                json.loads(r["before"]["S"]), json.loads(r["after"]["S"]),
            )
            for r in rows
        ]  # fmt: skip
