"""The voice doc (`voice.txt`): the wording of each message, with safe placeholders (DESIGN.md §5)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from opskit.placeholders import render_template, template_problems
from opskit.problems import DocumentError, Problem
from opskit.sections import Section, sort_by_line, split_sections

KINDS = ("first_alert", "reminder", "escalate", "digest", "email_subject")
PLACEHOLDERS = (
    "item",
    "category",
    "expiry_date",
    "days_left",
    "owner",
    "notes",
    "renewal_link",
    "escalated_from",
)
# The digest renders one line per item it lists, and says where each item stands: two more names, valid
# in [digest] only (anywhere else they would come out empty, so they stay unknown placeholders there).
DIGEST_PLACEHOLDERS = (*PLACEHOLDERS, "state", "due")


def placeholders_for(kind: str) -> tuple[str, ...]:
    return DIGEST_PLACEHOLDERS if kind == "digest" else PLACEHOLDERS


# Built-in wording. It must read well for any item, so it avoids placeholders that are often empty
# (notes, renewal_link) and does not put days_left where an overdue item would read oddly.
DEFAULT_TEMPLATES: Mapping[str, str] = MappingProxyType(
    {
        "first_alert": (
            "{item} ({category}) expires on {expiry_date}, in {days_left} days.\n"
            "Now is a good time to start the renewal. Choose Renew once it's done, "
            "Snooze to be reminded later, or Ack only if it's in hand."
        ),
        "reminder": (
            "Reminder: {item} ({category}) still needs renewing. It expires on {expiry_date}, "
            "in {days_left} days.\n"
            "Choose Renew once it's done and these reminders will stop."
        ),
        "escalate": (
            "{item} ({category}) still hasn't been renewed, and its expiry date is {expiry_date}.\n"
            "It was with {escalated_from}, so it has been passed to you to make sure it doesn't lapse. "
            "Please renew it, or check in with {escalated_from}."
        ),
        # One line per listed item, e.g. "Van insurance · @sam · 30 Jun 2026 (in 5 days) · waiting".
        "digest": "*{item}* · {owner} · {expiry_date} ({due}) · {state}",
        "email_subject": "Renewal needed: {item} (expires {expiry_date})",
    }
)


@dataclass(frozen=True)
class Voice:
    templates: Mapping[str, str] = field(default_factory=dict)  # the doc's sections; the rest default

    def render(self, kind: str, values: Mapping[str, object]) -> str:
        """The message for `kind`; placeholders missing from `values` come out empty."""
        if kind not in KINDS:
            raise ValueError(f"unknown message kind {kind!r}: use one of {', '.join(KINDS)}")
        template = self.templates.get(kind, DEFAULT_TEMPLATES[kind])
        return render_template(template, {name: values.get(name) for name in placeholders_for(kind)})


def parse_voice(text: str, source: str = "voice.txt") -> Voice:
    """Read the voice doc; sections left out keep the built-in wording. Raises DocumentError
    listing every problem found."""
    problems: list[Problem] = []
    templates: dict[str, str] = {}
    for section in split_sections(text, source, problems):
        name = section.name
        if name is None:
            # one note is enough: every line of a stray paragraph would say the same thing
            first = section.content[0].number
            message = "text outside any section: put it under a header like [first_alert]"
            problems.append(Problem(source, f"line {first}", message))
        elif name not in KINDS:
            problems.append(Problem(source, f"line {section.line}", _unknown_section(name)))
        elif not section.content:
            message = f"section [{name}] is empty: write the message under it, or delete the header"
            problems.append(Problem(source, f"line {section.line}", message + " to use the built-in one"))
        else:
            problems += _section_problems(section, name, source)
            templates[name] = _body(section)
    if problems:
        raise DocumentError(sort_by_line(problems))
    return Voice(MappingProxyType(templates))


def _section_problems(section: Section, name: str, source: str) -> list[Problem]:
    # checked line by line so each problem points at the line to fix
    problems = [
        Problem(source, f"line {line.number}", message)
        for line in section.content
        for message in template_problems(line.text, placeholders_for(name))
    ]
    if name == "email_subject" and len(section.content) > 1:
        # a line break cannot go into an email subject header
        message = "[email_subject] must be a single line: an email subject cannot hold a line break"
        problems.append(Problem(source, f"line {section.content[1].number}", message))
    return problems


def _body(section: Section) -> str:
    content = section.content
    first, last = section.lines.index(content[0]), section.lines.index(content[-1])
    return "\n".join(line.text for line in section.lines[first : last + 1])


def _unknown_section(name: str) -> str:
    close = difflib.get_close_matches(name, KINDS, n=1, cutoff=0.6)
    if close:
        return f"unknown section [{name}]: did you mean [{close[0]}]?"
    return f"unknown section [{name}]: use one of {', '.join(f'[{kind}]' for kind in KINDS)}"
