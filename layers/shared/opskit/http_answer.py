"""What a web-facing function answers: a status, a body and its type, or a refusal in plain words.
Kept apart from any web framework so the logic behind a route is plain code, tested without one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PLAIN = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str = ""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


class Refused(Exception):
    """A request refused before anything was read or written (forged, stale, oversized)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Malformed(Refused):
    """A request that passed its signature check but is not shaped as expected (400): the reason is
    one plain line, and nothing was read beyond it or written."""

    def __init__(self, reason: str):
        super().__init__(400, reason)


def unrouted(method: str, path: str, routes: Mapping[str, Sequence[str]]) -> HttpAnswer:
    """The answer to a request no route takes: 405 with the methods its path takes (`Allow`), or 404
    for a path nothing serves. One plain line, nothing read or written."""
    allowed = routes.get(path)
    if allowed is None:
        return HttpAnswer(404, "not found", PLAIN)
    methods = ", ".join(allowed)
    return HttpAnswer(405, f"method not allowed: {path} takes {methods}", PLAIN, {"Allow": methods})
