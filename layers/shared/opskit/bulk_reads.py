"""Reading tens of thousands of rows in one go without paying twice for them.

Two costs dominate a bulk read in Python (benchmarks/README.md, the daily tick):

- botocore's response parser walks every attribute of every item through the service model (a
  shape lookup and a few calls per value): for DynamoDB's JSON that is five to ten times the cost
  of `json.loads` on the same bytes, and `json.loads` already gives the very same dicts botocore
  returns, except for binary values (base64 text that botocore turns into bytes);
- the cyclic garbage collector runs again and again while hundreds of thousands of small objects are
  created, each time walking every object still alive, though none of them is garbage yet.

`plain_json_reads(client)` makes a DynamoDB client answer Scan and Query from `json.loads` of the
answer's body; `paused_gc()` holds the collector off for the duration of a bulk load, and
`bulk_load()` also keeps it off what was loaded for as long as the job works on it.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_OPERATIONS = ("Scan", "Query")
_BINARY = (b'{"B":', b'{"BS":')  # a binary attribute value: only botocore decodes its base64


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside the block (reference counting still frees everything
    that is not in a cycle). Nests: only the outermost block turns the collector back on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def bulk_load() -> Iterator[Callable[[], None]]:
    """For a job that first loads a lot, then works on it: inside the block, call the function it
    gives (`loaded()`) once the load is done. The collector is paused until then; what the load built
    is then frozen (`gc.freeze`: left out of every collection) until the block ends. Without the
    freeze, the first collections after the pause would walk the whole load, generation by generation
    (a second of a 300,000-row tick). Cycles made in the block are collected after it."""
    was_enabled = gc.isenabled()
    frozen = False

    def loaded() -> None:
        nonlocal frozen
        if not frozen:
            gc.freeze()
            frozen = True
            if was_enabled:
                gc.enable()

    gc.disable()
    try:
        yield loaded
    finally:
        if frozen:
            gc.unfreeze()
        if was_enabled:
            gc.enable()


@contextmanager
def plain_json_reads(client: Any) -> Iterator[None]:
    """Inside the block, this boto3 DynamoDB client's Scan and Query answers are parsed by `json.loads`
    alone: the same response dict botocore would build, at a fraction of the cost. An answer that is
    not a JSON 200, or that holds a binary value, is left to botocore as usual."""
    events = client.meta.events
    for operation in _OPERATIONS:
        events.register(f"before-parse.dynamodb.{operation}", _parse_plainly, unique_id=_unique(operation))
    try:
        yield
    finally:
        for operation in _OPERATIONS:
            events.unregister(f"before-parse.dynamodb.{operation}", unique_id=_unique(operation))


def _unique(operation: str) -> str:
    return f"opskit.bulk_reads.{operation}"


def _parse_plainly(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    body = response_dict.get("body")
    if response_dict.get("status_code") != 200 or not isinstance(body, bytes):
        return
    content_type = str(response_dict.get("headers", {}).get("content-type", "application/x-amz-json-1.0"))
    if "json" not in content_type or any(marker in body for marker in _BINARY):
        return
    customized_response_dict.update(json.loads(body))
    # botocore now parses an empty object (its response metadata still comes from the headers) and
    # merges what was parsed here on top of it.
    response_dict["body"] = b"{}"
