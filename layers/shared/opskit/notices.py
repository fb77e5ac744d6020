"""Telling a person about a problem once, and once more when it is gone, however often a scheduled job
finds it (a broken doc seen every 15 minutes is one message, not 96 a day).

What was last said about each subject is kept in the state table (`pk` "notice", `sk` the subject) as
a fingerprint of the problem's lines, so a different problem is a new message and the same one is not.
The message goes out before the record is written: a crash in between means the person may hear it
twice, never that they hear nothing.

    notices = Notices(state, tell, clock)
    notices.problem("drive-sync#rules", lines, "The rules doc was not mirrored", body)
    notices.cleared("drive-sync#rules", "The rules doc is fixed", body)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from opskit.state import StateTable

PK = "notice"
KEEP = timedelta(days=400)  # "once" should not quietly become "again next quarter" (the state table TTL)
MAX_REMEMBERED = 10_000  # line fingerprints remembered per subject (a DynamoDB item holds 400 KB)

Tell = Callable[[str, str], None]  # (subject line, message)


def fingerprint(lines: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:32]


def line_key(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()[:12]


def new_lines(lines: Sequence[str], told: Sequence[str]) -> list[str]:
    """The lines not told before (`told` holds line_key values), in their order."""
    known = set(told)
    return [line for line in lines if line_key(line) not in known]


class Notices:
    def __init__(self, state: StateTable, tell: Tell, clock: Callable[[], datetime]):
        self.state = state
        self.tell = tell
        self.clock = clock
        self.said: list[str] = []  # subject lines told during this object's life (reports, tests)

    def problem(self, subject: str, lines: Sequence[str], title: str, body: str) -> bool:
        """Say `body` unless exactly these `lines` were the last thing said about `subject`.
        Returns whether it was said."""
        mark = fingerprint(lines)
        last = self.state.get(PK, subject)
        if last is not None and last.data.get("fingerprint") == mark:
            return False
        self._say(title, body)
        self.state.put(PK, subject, {"fingerprint": mark, "lines": list(lines)[:50]}, self.clock(), KEEP)
        return True

    def cleared(self, subject: str, title: str, body: str) -> bool:
        """Say `body` if a problem was last said about `subject` (and forget it). Returns whether said."""
        if self.state.get(PK, subject) is None:
            return False
        self._say(title, body)
        self.state.forget(PK, subject)
        return True

    def each_new_line(
        self, subject: str, lines: Sequence[str], say: Callable[[list[str]], tuple[str, str]]
    ) -> bool:
        """For a list of independent problems (bad rows): say `say(new lines)` when some line was not
        told before, then remember the current lines, so a problem fixed and later back is told again.
        When the list becomes empty after being told, nothing is said here: use `cleared`."""
        last = self.state.get(PK, subject)
        told = list(last.data.get("told", [])) if last is not None else []
        fresh = new_lines(lines, told)
        current = [line_key(line) for line in lines][:MAX_REMEMBERED]
        if fresh:
            title, body = say(fresh)
            self._say(title, body)
        if current and current != told:
            self.state.put(PK, subject, {"told": current}, self.clock(), KEEP)
        return bool(fresh)

    def _say(self, title: str, body: str) -> None:
        self.tell(title, body)
        self.said.append(title)
