"""Doing a thing once, however often a request arrives: a conditional put on a small key-value table
(pk, sk, TTL `expires_at`). Slack retries, double clicks and reused links all land here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

DEFAULT_KEEP = timedelta(days=90)


@dataclass(frozen=True)
class Done:
    """Who did it first, and what they recorded."""

    at: datetime
    data: dict[str, Any]


class StateTable:
    def __init__(self, client: Any, table: str):
        self.client = client
        self.table = table

    def claim(
        self, pk: str, sk: str, data: Mapping[str, Any], now: datetime, keep: timedelta = DEFAULT_KEEP
    ) -> Done | None:
        """None if this call is the first (the thing is now ours to do); else what the first recorded."""
        item = {
            "pk": {"S": pk},
            "sk": {"S": sk},
            "at": {"S": now.astimezone(UTC).isoformat()},
            "data": {"S": json.dumps(dict(data), default=str)},
            "expires_at": {"N": str(int((now + keep).timestamp()))},
        }
        try:
            self.client.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        return self.get(pk, sk)

    def get(self, pk: str, sk: str) -> Done | None:
        found = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        if not found:
            return None
        return Done(datetime.fromisoformat(found["at"]["S"]), json.loads(found["data"]["S"]))

    def forget(self, pk: str, sk: str) -> None:
        """Give a claim back (the work failed and may be tried again)."""
        self.client.delete_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}})

    def put(
        self, pk: str, sk: str, data: Mapping[str, Any], now: datetime, keep: timedelta = DEFAULT_KEEP
    ) -> None:
        """Store a value unconditionally (pending records such as proposals)."""
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": pk},
                "sk": {"S": sk},
                "at": {"S": now.astimezone(UTC).isoformat()},
                "data": {"S": json.dumps(dict(data), default=str)},
                "expires_at": {"N": str(int((now + keep).timestamp()))},
            },
        )

    def rows(self, pk: str) -> list[tuple[str, Done]]:
        """(sk, what was recorded) of every row under `pk`, by sk (a Query, paged): pending work that
        a scheduled job picks up again after a crash."""
        found: list[tuple[str, Done]] = []
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        while True:
            page = self.client.query(**params)
            for row in page.get("Items", []):
                done = Done(datetime.fromisoformat(row["at"]["S"]), json.loads(row["data"]["S"]))
                found.append((row["sk"]["S"], done))
            if not page.get("LastEvaluatedKey"):
                return found
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
