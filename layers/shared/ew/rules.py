"""The rules doc (`rules.txt`): when to alert, remind and escalate, per category (DESIGN.md §5)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from types import MappingProxyType
from typing import Any

from opskit.dates import parse_date
from opskit.problems import DocumentError, Problem
from opskit.sections import Line, key_values, normalize_name, sort_by_line, split_sections

MAX_DAYS = 3650  # ten years: anything longer is a typo, not a plan


@dataclass(frozen=True)
class ChainRules:
    first_alert_days: int
    reminder_days: int
    escalate_days: int
    escalate_to: str | None  # None: the configured admin owner


@dataclass(frozen=True)
class Rules:
    default: ChainRules
    categories: Mapping[str, ChainRules]  # keys normalised like section names
    closed: frozenset[date]

    def for_category(self, category: str) -> ChainRules:
        return self.categories.get(normalize_name(category or ""), self.default)


BUILTIN_DEFAULT = ChainRules(60, 14, 7, None)

# doc key -> (ChainRules field, the shape people should write, the pattern that reads it)
_BEFORE = re.compile(r"(\d+)\s*(days?|weeks?)\s+before")
_SETTINGS = {
    "first alert": ("first_alert_days", '"N days before"', _BEFORE),
    "reminder": ("reminder_days", '"every N days"', re.compile(r"every\s+(\d+)?\s*(days?|weeks?)")),
    "escalate": ("escalate_days", '"N days before"', _BEFORE),
    "escalate to": ("escalate_to", "a Slack user ID like U012AB3CD or an email address", None),
}
_OWNER = re.compile(r"[UW][A-Z0-9]{6,}|[^@\s]+@[^@\s]+\.[^@\s]+")
_KEYS = (*_SETTINGS, "closed")
_ORDERED = {"first_alert_days", "escalate_days"}  # escalate must stay under first alert


def parse_rules(text: str, source: str = "rules.txt", date_order: str | None = None) -> Rules:
    """Read the rules doc; an empty doc means the built-in defaults. Raises DocumentError listing
    every problem found (`date_order` is the configured order for numeric `closed:` dates)."""
    problems: list[Problem] = []
    closed: set[date] = set()
    overrides: dict[str, dict[str, Any]] = {}  # section name -> ChainRules fields it sets
    headers: dict[str, int] = {}

    for section in split_sections(text, source, problems):
        pairs, shape_problems = key_values(section, source)
        problems += shape_problems
        if section.name is not None:
            headers.setdefault(section.name, section.line)
        values = overrides.setdefault(section.name or "", {})
        seen: dict[str, int] = {}
        for line, key, value in pairs:
            where = f"line {line.number}"
            if key == "closed":  # business-wide, so it may sit anywhere
                problems += _read_closed(line, value, source, date_order, closed)
            elif key not in _KEYS:
                problems.append(Problem(source, where, _unknown_key(key)))
            elif section.name is None:
                message = f'"{key}" is outside any section: put it under [default] or a [category]'
                problems.append(Problem(source, where, message))
            elif key in seen:
                message = f"{key} is already set on line {seen[key]} in [{section.name}]: keep one"
                problems.append(Problem(source, where, message))
            else:
                seen[key] = line.number
                try:
                    values[_SETTINGS[key][0]] = _read_value(key, value)
                except ValueError as error:
                    problems.append(Problem(source, where, str(error)))

    overrides.pop("", None)
    default_own = overrides.pop("default", {})
    default = replace(BUILTIN_DEFAULT, **default_own)
    categories = {name: replace(default, **own) for name, own in overrides.items()}
    checks = [("default", default, default_own), *((n, categories[n], own) for n, own in overrides.items())]
    for name, chain, own in checks:
        # a section that sets neither number only repeats [default]'s problem: report that once
        if chain.escalate_days >= chain.first_alert_days and own.keys() & _ORDERED:
            message = (
                f"[{name}]: escalate ({_days(chain.escalate_days)} before) must be closer to the expiry "
                f"than first alert ({_days(chain.first_alert_days)} before)"
            )
            problems.append(Problem(source, f"line {headers[name]}", message))
    if problems:
        raise DocumentError(sort_by_line(problems))
    return Rules(default, MappingProxyType(categories), frozenset(closed))


def _read_value(key: str, value: str) -> int | str:
    """The value of a known setting; raises ValueError saying what was expected."""
    _, shape, pattern = _SETTINGS[key]
    if pattern is None:  # escalate to
        if _OWNER.fullmatch(value):
            return value
        raise ValueError(f'{key}: expected {shape}, found "{value}"')
    match = pattern.fullmatch(" ".join(value.lower().split()))
    if not match:
        raise ValueError(f'{key}: expected {shape}, found "{value}"')
    number, unit = match.groups()
    days = (int(number) if number else 1) * (7 if unit.startswith("week") else 1)
    if days > MAX_DAYS:
        raise ValueError(f'{key}: expected at most {MAX_DAYS} days, found "{value}"')
    if key == "reminder" and days < 1:
        raise ValueError(f'reminder: expected every 1 day or more, found "{value}"')
    return days


def _read_closed(
    line: Line, value: str, source: str, date_order: str | None, into: set[date]
) -> list[Problem]:
    where = f"line {line.number}"
    # "March 1, 2026" has its own comma: a bare year piece belongs to the date before it
    pieces: list[str] = []
    for piece in (p.strip() for p in value.split(",")):
        if re.fullmatch(r"\d{4}", piece) and pieces:
            pieces[-1] += ", " + piece
        elif piece:
            pieces.append(piece)
    if not pieces:
        return [Problem(source, where, 'closed: expected dates like "2026-12-24, 2026-12-31", found nothing')]
    problems = []
    for piece in pieces:
        try:
            into.add(parse_date(piece, date_order))
        except ValueError as error:
            problems.append(Problem(source, where, f"closed: {error}"))
    return problems


def _unknown_key(key: str) -> str:
    close = difflib.get_close_matches(key, _KEYS, n=1, cutoff=0.6)
    if close:
        return f'unknown setting "{key}": did you mean "{close[0]}"?'
    return f'unknown setting "{key}": use one of {", ".join(_KEYS)}'


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"
