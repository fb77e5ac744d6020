"""Reading untrusted JSON (a request body, a button value, a modal's metadata): a signed request is
still not necessarily well formed. Each reader raises Malformed with one plain line naming what is
wrong, so one handler turns every such request into a 400 and nothing deeper ever sees a bad shape."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from opskit.http_answer import Malformed


def json_object(text: object, what: str) -> dict[str, Any]:
    """`text` parsed as a JSON object."""
    if not isinstance(text, str | bytes) or not text:
        raise Malformed(f"{what} is missing")
    try:
        value = json.loads(text)
    except ValueError:
        raise Malformed(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not a JSON object")
    return value


def obj(parent: Mapping[str, Any], name: str, what: str) -> dict[str, Any]:
    """The object under `name`."""
    value = parent.get(name)
    if not isinstance(value, dict):
        raise Malformed(f"{what} has no {name}")
    return value


def text(parent: Mapping[str, Any], name: str, what: str) -> str:
    """The non-empty string under `name`."""
    value = parent.get(name)
    if not isinstance(value, str) or not value:
        raise Malformed(f"{what} has no {name}")
    return value


def first(parent: Mapping[str, Any], name: str, what: str) -> dict[str, Any]:
    """The first object of the list under `name`."""
    value = parent.get(name)
    if not isinstance(value, list) or not value or not isinstance(value[0], dict):
        raise Malformed(f"{what} has no {name}")
    return value[0]
