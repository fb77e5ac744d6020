"""A warm container re-running the tick parses registry.csv again only when S3 holds another object
(its ETag), and then reads what changed, never a stale parse."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from ew import daily_tick
from ew.daily_tick import TickError, read_registry

BUCKET = "ew-registry-source"
SHEET = b"item_id,item,expiry_date,owner\nA1,Lease,2026-12-10,U04LEASE01\n"


@pytest.fixture
def s3(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(daily_tick, "_PARSED", {})
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key="registry.csv", Body=SHEET)
    yield client


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    seen: list[bytes] = []
    parse = daily_tick.load_registry

    def counting(data: bytes, *args: Any, **kwargs: Any) -> Any:
        seen.append(data)
        return parse(data, *args, **kwargs)

    monkeypatch.setattr(daily_tick, "load_registry", counting)
    return seen


def test_the_same_object_is_parsed_once_and_not_downloaded_again(s3: Any, parses: list[bytes]) -> None:
    bodies: list[int] = []
    s3.meta.events.register(
        "after-call.s3.GetObject", lambda http_response, **_: bodies.append(http_response.status_code)
    )

    first = read_registry(s3, BUCKET, None)
    again = read_registry(s3, BUCKET, None)

    assert again is first and [i.item_id for i in again.items] == ["A1"]
    assert len(parses) == 1
    assert bodies == [200, 304]  # the second read asked S3 only whether it changed


def test_a_changed_sheet_or_date_order_is_parsed_again(s3: Any, parses: list[bytes]) -> None:
    read_registry(s3, BUCKET, None)
    s3.put_object(
        Bucket=BUCKET, Key="registry.csv", Body=SHEET + b"A2,Van insurance,01/02/2027,ops@acme.example\n"
    )
    assert [i.item_id for i in read_registry(s3, BUCKET, "dmy").items] == ["A1", "A2"]
    assert [i.item_id for i in read_registry(s3, BUCKET, "dmy").items] == ["A1", "A2"]
    changed = read_registry(s3, BUCKET, None)  # without a date order 01/02/2027 is ambiguous
    assert [i.item_id for i in changed.items] == ["A1"] and "ambiguous" in str(changed.problems[0])
    assert len(parses) == 3


def test_a_registry_deleted_after_a_parse_is_not_served_from_memory(s3: Any, parses: list[bytes]) -> None:
    read_registry(s3, BUCKET, None)
    s3.delete_object(Bucket=BUCKET, Key="registry.csv")
    with pytest.raises(TickError, match="not in the registry bucket yet"):
        read_registry(s3, BUCKET, None)
