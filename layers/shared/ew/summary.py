"""The monthly summary (DESIGN.md §3, §9): last month's figures, computed here, and the email that
carries them. Pure.

A model may write the paragraph the board reads, from these figures only. It never adds facts:
`invented_numbers` lists every number in its text that is not one of the figures (digits, number
words, percentages and fractions alike), and any such number means the plain paragraph is sent.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from ew.activity import SentPing
from ew.chain import ACK_ONLY, ESCALATE, FIRST_ALERT, REMINDER, RENEW, SNOOZE, Ack, current_item
from ew.items import Item
from opskit.dates import human_date
from opskit.mail import render_html

MAX_NARRATIVE = 1500  # characters: one paragraph; a longer answer did not follow the brief
MAX_LISTED = 20  # expired items named in the email before "and N more"


@dataclass
class MonthFigures:
    month: date  # its first day
    alerts_by_move: Counter[str] = field(default_factory=Counter)
    renewals: int = 0
    snoozes: int = 0
    ack_only: int = 0
    expired: list[Item] = field(default_factory=list)  # expired in the month, not renewed by its end
    days_to_renewal: list[int] = field(default_factory=list)  # one per renewal whose chain had an alert

    @property
    def label(self) -> str:
        return f"{self.month:%B %Y}"

    @property
    def alerts(self) -> int:
        return sum(self.alerts_by_move.values())

    @property
    def median_days_to_renewal(self) -> Decimal | None:
        if not self.days_to_renewal:
            return None
        return Decimal(str(statistics.median(self.days_to_renewal))).normalize()

    def named(self) -> list[tuple[str, Decimal]]:
        """The figures, named as the email and the prompt show them."""
        figures = [
            ("alerts sent", self.alerts),
            ("first alerts", self.alerts_by_move[FIRST_ALERT]),
            ("reminders", self.alerts_by_move[REMINDER]),
            ("escalations", self.alerts_by_move[ESCALATE]),
            ("renewals", self.renewals),
            ("snoozes", self.snoozes),
            ("ack-only answers", self.ack_only),
            ("items that expired without renewal", len(self.expired)),
        ]
        named = [(name, Decimal(value)) for name, value in figures]
        median = self.median_days_to_renewal
        if median is not None:
            named.append(("median days from first alert to renewal", median))
            named.append(("renewals measured for that median", Decimal(len(self.days_to_renewal))))
        return named

    def as_dict(self) -> dict[str, str]:
        """Figures only: what a log line may carry."""
        return {"month": self.month.isoformat()[:7], **{name: str(value) for name, value in self.named()}}


def report_month(today: date) -> date:
    """The first day of the month before `today`'s."""
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def month_figures(
    items: Iterable[Item], pings: Iterable[SentPing], acks: Iterable[Ack], month: date, timezone: str
) -> MonthFigures:
    tz = ZoneInfo(timezone)
    end = (month + timedelta(days=32)).replace(day=1)  # the first day after the month
    figures = MonthFigures(month)
    all_pings = [p for p in pings if p.sent]
    for p in all_pings:
        if month <= p.sent_on < end:
            figures.alerts_by_move[p.move] += 1

    first_alert: dict[tuple[str, date], date] = {}
    for p in sorted(all_pings, key=lambda p: p.chain_index, reverse=True):
        first_alert[(p.item_id, p.cycle_expiry)] = p.sent_on  # the lowest index wins
    by_end = [a for a in acks if a.at.astimezone(tz).date() < end]
    for a in by_end:
        day = a.at.astimezone(tz).date()
        if day < month:
            continue
        if a.action == RENEW:
            figures.renewals += 1
            alerted = first_alert.get((a.item_id, a.cycle_expiry))
            if alerted is not None and alerted <= day:
                figures.days_to_renewal.append((day - alerted).days)
        elif a.action == SNOOZE:
            figures.snoozes += 1
        elif a.action == ACK_ONLY:
            figures.ack_only += 1

    acks_by_item: dict[str, list[Ack]] = {}
    for a in by_end:
        acks_by_item.setdefault(a.item_id, []).append(a)
    for listed in items:
        if listed.status != "active":
            continue
        item = current_item(listed, acks_by_item.get(listed.item_id, []))
        if month <= item.expiry_date < end:
            figures.expired.append(item)
    figures.expired.sort(key=lambda i: (i.expiry_date, i.item.lower()))
    return figures


# -- the paragraph --------------------------------------------------------------------------------


def _number(value: Decimal | int) -> str:
    return f"{value:,}"


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _moves(f: MonthFigures) -> str:
    moves = f.alerts_by_move
    return ", ".join(
        [
            _count(moves[FIRST_ALERT], "first alert", "first alerts"),
            _count(moves[REMINDER], "reminder", "reminders"),
            _count(moves[ESCALATE], "escalation", "escalations"),
        ]
    )


def plain_paragraph(f: MonthFigures) -> str:
    """The paragraph written in code: what the board reads when no model writes it."""
    text = (
        f"In {f.label} the watcher sent {_count(f.alerts, 'alert', 'alerts')} ({_moves(f)}). "
        f"Owners renewed {_count(f.renewals, 'item', 'items')}, snoozed {_number(f.snoozes)} "
        f"and answered {_number(f.ack_only)} with ack only. "
        f"{_count(len(f.expired), 'item', 'items')} expired without renewal."
    )
    median = f.median_days_to_renewal
    if median is not None:
        text += f" The median time from first alert to renewal was {_number(median)} days."
    return text


SYSTEM_PROMPT = (
    "You write one short paragraph for the board of a small business about last month's work of its "
    "renewal reminder system (contracts, insurance, licences, certificates). Use only the figures you "
    "are given. Write each number with digits, exactly as given. Do not compute or mention any other "
    "number: no percentages, ratios, totals, differences, averages or dates; refer to the period only "
    "by the month's name and year. No heading, no list, no greeting: one plain paragraph of at most "
    "120 words, in a calm, factual tone."
)


def narrative_prompt(f: MonthFigures) -> str:
    lines = [f"Month: {f.label}", "Figures:"]
    lines += [f"- {name}: {_number(value)}" for name, value in f.named()]
    return "\n".join(lines)


_DIGITS = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(\s*(?:%|per\s*cent\b|percent\b))?", re.I)
_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "dozen": 12,
    "twice": 2, "thrice": 3, "couple": 2,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
# Words that state a derived quantity (a share, a multiple): never one of the figures.
_DERIVED = {"half", "halves", "halved", "third", "thirds", "quarter", "quarters", "double", "doubled",
            "triple", "tripled", "percent", "percentage", "majority", "minority"}  # fmt: skip
_WORD = re.compile(r"[a-z]+", re.I)


def numbers_in(text: str) -> list[tuple[str, Decimal | None]]:
    """Every number the text states, in order, as (how it is written, its value); None for a
    percentage or a derived quantity ("half", "doubled"), which no figure can be."""
    found: list[tuple[int, str, Decimal | None]] = []
    for match in _DIGITS.finditer(text):
        whole, fraction, percent = match.groups()
        value = Decimal(whole.replace(",", "") + (fraction or ""))
        found.append((match.start(), match.group(0).strip(), None if percent else value))
    matches = list(_WORD.finditer(text))
    words = [m.group(0).lower() for m in matches]
    i = 0
    while i < len(words):
        word = words[i]
        if word in _DERIVED:
            found.append((matches[i].start(), word, None))
        elif word in _UNITS or (word in _SCALES and i > 0 and words[i - 1] == "a"):
            start, total, current = i, 0, 0
            while i < len(words) and (words[i] in _UNITS or words[i] in _SCALES or _joins(words, i)):
                if words[i] in _UNITS:
                    current += _UNITS[words[i]]
                elif words[i] in _SCALES:
                    current = max(current, 1) * _SCALES[words[i]]
                    if _SCALES[words[i]] >= 1000:
                        total, current = total + current, 0
                i += 1
            found.append((matches[start].start(), " ".join(words[start:i]), Decimal(total + current)))
            continue
        i += 1
    return [(written, value) for _, written, value in sorted(found, key=lambda f: f[0])]


def _joins(words: list[str], i: int) -> bool:
    """ "and" inside a number ("one hundred and five")."""
    return (
        words[i] == "and"
        and i + 1 < len(words)
        and i > 0
        and words[i - 1] in _SCALES
        and words[i + 1] in _UNITS
    )


def invented_numbers(text: str, f: MonthFigures) -> list[str]:
    """The numbers in `text` that are not figures (nor the month's year), as written. Empty: the text
    may be sent."""
    allowed = {value for _, value in f.named()} | {Decimal(f.month.year)}
    return [written for written, value in numbers_in(text) if value is None or value not in allowed]


def narrative_problem(text: str, f: MonthFigures) -> str | None:
    """Why the model's paragraph cannot be sent (None: it can)."""
    if len(text) > MAX_NARRATIVE:
        return f"the paragraph is {len(text):,} characters long"
    invented = invented_numbers(text, f)
    if invented:
        return "numbers that are not among the figures: " + ", ".join(invented)
    return None


# -- the email ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryEmail:
    subject: str
    text: str
    html: str


def summary_email(f: MonthFigures, paragraph: str, written_by_model: bool) -> SummaryEmail:
    median = f.median_days_to_renewal
    measured = _count(len(f.days_to_renewal), "renewal", "renewals")
    rows = [
        f"Alerts sent: {f.alerts:,} ({_moves(f)})",
        f"Renewals: {f.renewals:,}",
        f"Snoozes: {f.snoozes:,}",
        f"Ack only: {f.ack_only:,}",
        f"Expired without renewal: {len(f.expired):,}",
        "Median days from first alert to renewal: "
        + (f"{_number(median)} ({measured} measured)" if median is not None else "no renewal after an alert"),
    ]
    parts = [" ".join(paragraph.split()), f"The figures for {f.label}:\n" + "\n".join(f"- {r}" for r in rows)]
    if f.expired:
        names = [
            f"{i.item} ({i.item_id}, expired {human_date(i.expiry_date)})" for i in f.expired[:MAX_LISTED]
        ]
        if len(f.expired) > MAX_LISTED:
            names.append(f"and {len(f.expired) - MAX_LISTED:,} more")
        parts.append("Expired without renewal:\n" + "\n".join(f"- {n}" for n in names))
    parts.append(
        "The paragraph above was written by Claude Haiku 4.5 on Amazon Bedrock from these figures only; "
        "every number in it was checked against them."
        if written_by_model
        else "Expiry Watcher monthly summary."
    )
    text = "\n\n".join(parts)
    return SummaryEmail(f"Expiry Watcher: {f.label} summary", text, render_html(text))
