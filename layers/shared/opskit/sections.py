"""Splitting a person-written text doc into `[name]` sections, and reading `key: value` lines.

The docs come from Google Docs edited by non-programmers, so the reader is forgiving about layout
(case, spacing, Windows line endings, a BOM) and precise about what is wrong when it gives up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from opskit.problems import DocumentError, Problem

_LINE_NO = re.compile(r"^line (\d+)")


@dataclass
class Line:
    number: int  # counted from 1, as an editor shows it
    text: str

    @property
    def blank(self) -> bool:
        return not self.text.strip()


@dataclass
class Section:
    name: str | None  # normalised (see normalize_name); None for the lines before any header
    line: int  # the header's line number; 0 for the lines before any header
    lines: list[Line] = field(default_factory=list)

    @property
    def content(self) -> list[Line]:
        """The lines that are not blank (key-value docs do not care about spacing)."""
        return [line for line in self.lines if not line.blank]


def normalize_name(text: str) -> str:
    """Lower-case, trimmed, inner whitespace collapsed: `First  Alert ` and `first alert` are one name."""
    return " ".join(text.split()).lower()


def split_sections(text: str, source: str, problems: list[Problem] | None = None) -> list[Section]:
    """Split `text` at `[name]` header lines; `#` comment lines are dropped, blank lines kept.

    Problems (malformed or duplicate headers) are appended to `problems` when it is given, so a
    caller can report them together with its own; without it they are raised as one DocumentError.
    The lines before the first header come back as a section named None, only if there are any.
    """
    found: list[Problem] = []
    preamble = Section(None, 0)
    sections = [preamble]
    current: Section | None = preamble
    first_seen: dict[str, int] = {}

    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#"):
            continue
        # "[Acme] renewal due" is text that happens to start with a tag, not a broken header.
        if not stripped.startswith("[") or ("]" in stripped and not stripped.endswith("]")):
            if current is not None:
                current.lines.append(Line(number, raw))
            continue
        header_problem = _header_problem(stripped)
        if header_problem:
            found.append(Problem(source, f"line {number}", header_problem))
            current = None  # its lines belong to no section: checking them would only add noise
            continue
        name = normalize_name(stripped[1:-1])
        if name in first_seen:
            found.append(
                Problem(
                    source,
                    f"line {number}",
                    f"section [{name}] appears twice (lines {first_seen[name]} and {number}): "
                    "keep one and move everything under it",
                )
            )
        else:
            first_seen[name] = number
        current = Section(name, number)
        sections.append(current)

    if problems is not None:
        problems.extend(found)
    elif found:
        raise DocumentError(found)
    return sections if preamble.content else sections[1:]


def _header_problem(stripped: str) -> str | None:
    if not stripped.endswith("]"):
        return f'section header "{stripped}" is missing its closing "]"'
    inner = stripped[1:-1]
    if not inner.strip():
        return f'section header "{stripped}" has no name: write it like [insurance]'
    if "[" in inner or "]" in inner:
        return f'expected a section header like [insurance], found "{stripped}"'
    return None


def key_values(section: Section, source: str) -> tuple[list[tuple[Line, str, str]], list[Problem]]:
    """Read the section's non-blank lines as `key: value` (split at the first colon).

    Returns (line, normalised key, stripped value) triples and a problem for each line that is not
    of that shape. Judging keys and values is the caller's job.
    """
    pairs: list[tuple[Line, str, str]] = []
    problems: list[Problem] = []
    for line in section.content:
        key, colon, value = line.text.partition(":")
        key = normalize_name(key)
        if not colon or not key:
            problems.append(
                Problem(
                    source, f"line {line.number}", f"expected 'name: value', found \"{line.text.strip()}\""
                )
            )
            continue
        pairs.append((line, key, value.strip()))
    return pairs, problems


def sort_by_line(problems: list[Problem]) -> list[Problem]:
    """Problems in document order (those without a line number first), for a readable report."""

    def line_of(problem: Problem) -> int:
        match = _LINE_NO.match(problem.where)
        return int(match.group(1)) if match else 0

    return sorted(problems, key=line_of)
