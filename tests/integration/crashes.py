"""Shared by the crash tests: kill a real handler right before or right after one of its external writes,
as a Lambda timeout or an out-of-memory kill would (InvocationKilled: nothing in the code under test can
catch it, so no claim is given back), fail its writes, move the handlers' clock on to when a retry comes,
and run a Google sync with retries that record their waits instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from ew import runtime
from ew_local.cloud import InvocationKilled, load_handler
from opskit.google_api import Retry

KILLED = "Task timed out"


def kill() -> None:
    raise InvocationKilled(KILLED)


@contextmanager
def killed_around(
    service: str,
    operations: str | tuple[str, ...],
    when: str,
    times: int = 1,
    match: Callable[[dict[str, Any]], bool] = lambda params: True,
) -> Iterator[list[str]]:
    """The handlers' next `times` calls of `operations` (on `runtime.client(service)`) whose parameters
    `match` kill the invocation: `before` the request goes out, or `after` AWS has done it (its answer
    never reaches the code). Yields what was killed."""
    client = runtime.client(service)
    killed: list[str] = []
    pending = [False]

    def before(params: dict[str, Any], event_name: str = "", **_: Any) -> None:
        if len(killed) < times and match(params):
            killed.append(f"{when} {event_name.rsplit('.', 1)[-1]}")
            if when == "before":
                kill()
            pending[0] = True

    def after(**_: Any) -> None:
        if pending[0]:
            pending[0] = False
            kill()

    hooks: list[tuple[str, Callable[..., None]]] = []
    for operation in (operations,) if isinstance(operations, str) else operations:
        hooks += [
            (f"before-parameter-build.{service}.{operation}", before),
            (f"after-call.{service}.{operation}", after),
        ]
    for name, hook in hooks:
        client.meta.events.register(name, hook)
    try:
        yield killed
    finally:
        for name, hook in hooks:
            client.meta.events.unregister(name, hook)


def killed_at_write(table: str, when: str) -> Any:
    """The handlers' next write of an item to `table` (a PutItem, or a transaction with a part for it)."""
    return killed_around("dynamodb", ("PutItem", "TransactWriteItems"), when, match=writes_to(table))


def writes_to(table: str) -> Callable[[dict[str, Any]], bool]:
    """Matches a PutItem of `table`, or a TransactWriteItems with a part for it."""

    def match(params: dict[str, Any]) -> bool:
        parts = [part for item in params.get("TransactItems") or [] for part in item.values()]
        return params.get("TableName") == table or any(part.get("TableName") == table for part in parts)

    return match


@contextmanager
def failing(table: str, error: Callable[[], BaseException], times: int = 1, skip: int = 0) -> Iterator[None]:
    """The handlers' next `times` writes of an item to `table` (a PutItem, or a TransactWriteItems that
    puts one, as an ack does with its chain head and audit row) fail with `error` before reaching
    DynamoDB, after `skip` such writes went through."""
    client = runtime.client("dynamodb")
    left, skipped = [times], [skip]
    match = writes_to(table)

    def hook(params: dict[str, Any], **_: Any) -> None:
        if not match(params):
            return
        if skipped[0] > 0:
            skipped[0] -= 1
        elif left[0] > 0:
            left[0] -= 1
            raise error()

    events = ("before-parameter-build.dynamodb.PutItem", "before-parameter-build.dynamodb.TransactWriteItems")
    for event in events:
        client.meta.events.register(event, hook)
    try:
        yield
    finally:
        for event in events:
            client.meta.events.unregister(event, hook)


@contextmanager
def killed_in(owner: Any, name: str, when: str) -> Iterator[None]:
    """The next call of `owner.name` (a class's method, or a module's function such as
    `runtime.defer_task`) kills the invocation before it acts, or right after it acted."""
    real = getattr(owner, name)
    left = [1]

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not left[0]:
            return real(*args, **kwargs)
        left[0] = 0
        if when == "after":
            real(*args, **kwargs)
        kill()

    setattr(owner, name, wrapped)
    try:
        yield
    finally:
        setattr(owner, name, real)


@contextmanager
def later(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> Iterator[None]:
    """The handlers' clock (`ew.runtime.utc_now`) moved on by `by`, as for a retry that comes later."""
    real = runtime.utc_now
    monkeypatch.setattr(runtime, "utc_now", lambda: real() + by)
    yield
    monkeypatch.setattr(runtime, "utc_now", real)


def run_without_waiting(
    handler: str, run: Callable[[Any, datetime], Any]
) -> tuple[dict[str, Any], list[float]]:
    """`run` (ew.drive_sync.run_sync, ew.calendar_sync.run_calendar_sync) on the `handler`'s own deps,
    with a retry that records its waits instead of sleeping: (its report, the waits)."""
    deps = load_handler(handler).deps(None)
    waits: list[float] = []
    deps.retry = Retry(sleep=waits.append)
    return run(deps, runtime.utc_now()).as_dict(), waits
