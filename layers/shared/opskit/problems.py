"""A problem found in a human-edited document, said in plain words for the person who edits it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    source: str  # the document, e.g. "registry.csv" or "rules.txt"
    where: str  # "row 5, column expiry_date", "line 3", "header"
    message: str  # plain words: what is wrong and, where possible, how to fix it

    def __str__(self) -> str:
        return f"{self.source}: {self.where}: {self.message}"


class DocumentError(ValueError):
    """A document that cannot be used at all. Carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
