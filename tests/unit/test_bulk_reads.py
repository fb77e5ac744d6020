"""Bulk reads: DynamoDB answers parsed by json.loads are the very answers botocore gives; the garbage
collector is held off inside a bulk load and back on after it."""

from __future__ import annotations

import gc
from contextlib import nullcontext
from typing import Any

import boto3
import pytest

from opskit.bulk_reads import bulk_load, paused_gc, plain_json_reads


@pytest.fixture
def table(moto_aws: None) -> Any:
    client = boto3.client("dynamodb")
    client.create_table(
        TableName="rows",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
    )
    for n in range(40):
        client.put_item(
            TableName="rows",
            Item={
                "pk": {"S": f"item-{n % 4}"},
                "sk": {"N": str(n)},
                "text": {"S": 'a "quoted" \u00e9t\u00e9 \\ line\nbreak'},
                "tags": {"SS": ["x", "y"]},
                "nested": {"M": {"list": {"L": [{"N": "1.5"}, {"BOOL": True}, {"NULL": True}]}}},
            },
        )
    return client


def _parsed_by(client: Any, plain: bool) -> tuple[list[dict[str, Any]], list[int]]:
    pages = []
    with plain_json_reads(client) if plain else nullcontext():
        # runs after the plain parse: sees what it filled in for botocore to merge
        filled: list[int] = []

        def observe(customized_response_dict: dict[str, Any], **_: Any) -> None:
            filled.append(len(customized_response_dict))

        for operation in ("Scan", "Query"):
            client.meta.events.register(f"before-parse.dynamodb.{operation}", observe)
        pages.append(client.scan(TableName="rows", Limit=15))
        pages.append(client.query(TableName="rows", **_item_0()))
        for operation in ("Scan", "Query"):
            client.meta.events.unregister(f"before-parse.dynamodb.{operation}", observe)
    for page in pages:
        page.pop("ResponseMetadata")
    return pages, filled


def _item_0() -> dict[str, Any]:
    return {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "item-0"}}}


def test_scan_and_query_answers_are_the_same_as_botocore_parses_them(table: Any) -> None:
    (plain, filled), (parsed, _) = _parsed_by(table, plain=True), _parsed_by(table, plain=False)
    assert filled == [4, 3]  # Count, Items, ScannedCount (+ LastEvaluatedKey): json.loads did it
    assert plain == parsed
    [scan, _] = plain
    assert len(scan["Items"]) == 15 and "LastEvaluatedKey" in scan
    assert scan["Items"][0]["nested"]["M"]["list"]["L"][1] == {"BOOL": True}


def test_a_binary_value_is_left_to_botocore(table: Any) -> None:
    table.put_item(
        TableName="rows", Item={"pk": {"S": "item-0"}, "sk": {"N": "99"}, "blob": {"B": b"\x00\xff"}}
    )
    [_, query], filled = _parsed_by(table, plain=True)
    assert filled[1] == 0  # the page with the binary value went to botocore
    [blob] = [item["blob"] for item in query["Items"] if "blob" in item]
    assert blob == {"B": b"\x00\xff"}  # bytes, as botocore decodes base64


def test_outside_the_block_botocore_parses_as_usual(table: Any) -> None:
    with plain_json_reads(table):
        pass
    seen: list[dict[str, Any]] = []
    table.meta.events.register(
        "before-parse.dynamodb.Scan",
        lambda customized_response_dict, **_: seen.append(customized_response_dict),
    )
    table.scan(TableName="rows", Limit=1)
    assert seen == [{}]  # nothing filled in by the plain parse


def test_the_collector_is_paused_inside_and_restored_after_even_when_nested() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), paused_gc():
        raise ValueError("a failed load")
    assert gc.isenabled()


def test_a_bulk_load_is_frozen_once_loaded_and_everything_is_back_after() -> None:
    frozen_before = gc.get_freeze_count()
    with bulk_load() as loaded:
        assert not gc.isenabled()
        rows = [{"n": n} for n in range(1000)]
        loaded()
        assert gc.isenabled() and gc.get_freeze_count() >= frozen_before + len(rows)
        loaded()  # twice is harmless
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with pytest.raises(ValueError), bulk_load():
        raise ValueError("a failed load")
    assert gc.isenabled()
