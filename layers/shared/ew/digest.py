"""The weekly digest (DESIGN.md §3): the week's figures and the message that shows them. Pure.

What the digest says, for the week that ends on the digest's day (Monday to Sunday for the Sunday run):
the pings sent by move and by channel, the answers by action, the items expiring in the next 30 days
and where each stands, the items past expiry and not renewed, and the sheet's problems.

Slack has no tables, and a monospace table wraps on a phone and cannot show owners as mentions, so
each listed item is one line written by the voice doc's `[digest]` section ("*Van insurance* ·
@sam · 30 Jun 2026 (in 5 days) · waiting"), in order of urgency. However long the sheet, the message
stays inside Slack's limits: each list shows its most urgent lines and then says "…and 1,234 more".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ew.activity import SentPing
from ew.chain import ACK_ONLY, ESCALATE, FIRST_ALERT, REMINDER, RENEW, SNOOZE, Ack, current_item
from ew.items import Item
from ew.voice import Voice
from opskit.dates import human_date
from opskit.mail import render_html
from opskit.slack import context, escape_mrkdwn, text_section

WEEK_DAYS = 7
UPCOMING_DAYS = 30

# Slack's limits (api.slack.com/reference/block-kit): 50 blocks a message, 3,000 characters in a
# section's text, 150 in a header; chat.postMessage truncates `text` beyond 40,000 characters.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_FALLBACK_TEXT = 40_000
MAX_CELL = 80  # a sheet cell in a listed line ("Office lease - 14 Harbour St" is 28)
MAX_LINE = 280  # one listed item: a pathological template is cut, the list goes on

# How many lines each list shows before "…and N more": enough to act on, short enough for a phone.
# Email has no block limit, so it shows more.
SLACK_SHOWN = {"upcoming": 25, "overdue": 15, "problems": 10}
EMAIL_SHOWN = {"upcoming": 200, "overdue": 100, "problems": 100}

WAITING = "waiting"
ANSWERED = "answered"
# An owner's Ack only stops the reminders, not the escalation (DESIGN.md §6 rule 3): only an Ack only
# after the latest escalation stops that. Until then the item is not settled.
STILL_ESCALATING = "acknowledged, still escalating"
NOT_ALERTED = "not alerted yet"

_MOVE_WORDS = ((FIRST_ALERT, "first alert"), (REMINDER, "reminder"), (ESCALATE, "escalation"))
_ACTION_WORDS = ((RENEW, "renewed"), (SNOOZE, "snoozed"), (ACK_ONLY, "ack only"))
_BOLD = re.compile(r"\*([^*\n]+)\*")


@dataclass(frozen=True)
class Standing:
    """Where one item stands on the digest's day."""

    item: Item  # as the tick sees it: a recorded renewal is applied even before the sheet shows it
    days_left: int  # to the expiry date; negative once past it
    state: str  # "waiting", "waiting, escalated", "answered", "acknowledged, still escalating",
    # "snoozed until 30 Nov 2026", "snoozed until 30 Nov 2026, still escalating", "not alerted yet"


@dataclass
class WeekFigures:
    start: date  # first day of the week, inclusive
    end: date  # the digest's day, inclusive
    pings_by_move: Counter[str] = field(default_factory=Counter)
    pings_by_channel: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    upcoming: list[Standing] = field(default_factory=list)  # expiring within UPCOMING_DAYS, soonest first
    overdue: list[Standing] = field(default_factory=list)  # past expiry, not renewed, longest overdue first
    problems: list[str] = field(default_factory=list)  # the sheet's, as the admin reads them

    @property
    def pings(self) -> int:
        return sum(self.pings_by_move.values())

    def as_dict(self) -> dict[str, Any]:
        """Counts only: what a log line may carry (no names, no addresses)."""
        return {
            "week": f"{self.start.isoformat()}/{self.end.isoformat()}",
            "pings_by_move": dict(self.pings_by_move),
            "pings_by_channel": dict(self.pings_by_channel),
            "answers": dict(self.answers),
            "upcoming": len(self.upcoming),
            "overdue": len(self.overdue),
            "problems": len(self.problems),
        }


def week_figures(
    items: Iterable[Item],
    pings: Iterable[SentPing],
    acks: Iterable[Ack],
    today: date,
    timezone: str,
    problems: Sequence[str] = (),
    until: datetime | None = None,
) -> WeekFigures:
    """The figures of the week ending `today` (local dates in `timezone`). Pings come from both the
    pings and the archive table; only pings sent count, so a ping waiting for Monday is next week's.
    `until`: when the digest runs. The pings and the answers are then those of the 7 days before it,
    so a ping or a click on Sunday evening, after that week's digest went out, is in the next one."""
    tz = ZoneInfo(timezone)
    figures = WeekFigures(today - timedelta(days=WEEK_DAYS - 1), today, problems=list(problems))
    since = until - timedelta(days=WEEK_DAYS) if until is not None else None

    def this_week(at: datetime | None, day: date) -> bool:
        # Since the previous digest, when the run's time is known: a ping or a click on Sunday evening,
        # after that week's digest went out, is in the next one (by its date it would be in neither).
        if since is not None and until is not None and at is not None:
            return since < at <= until
        return figures.start <= day <= today

    for p in pings:
        if p.sent and this_week(p.send_at, p.sent_on):
            figures.pings_by_move[p.move] += 1
            figures.pings_by_channel[p.channel] += 1
    answered = list(acks)
    for a in answered:
        if this_week(a.at, a.at.astimezone(tz).date()):
            figures.answers[a.action] += 1

    pings_by_item: dict[str, list[SentPing]] = {}
    for p in pings:
        pings_by_item.setdefault(p.item_id, []).append(p)
    acks_by_item: dict[str, list[Ack]] = {}
    for a in answered:
        acks_by_item.setdefault(a.item_id, []).append(a)

    for listed in items:
        if listed.status != "active":
            continue
        item_acks = acks_by_item.get(listed.item_id, [])
        item = current_item(listed, item_acks)
        days_left = (item.expiry_date - today).days
        if days_left > UPCOMING_DAYS:
            continue
        chain_acks = [a for a in item_acks if a.cycle_expiry == item.expiry_date]
        if any(a.action == RENEW for a in chain_acks):
            continue  # renewed to a date that is not later: nothing is waiting on anyone
        chain_pings = [p for p in pings_by_item.get(item.item_id, []) if p.cycle_expiry == item.expiry_date]
        standing = Standing(item, days_left, _state(chain_pings, chain_acks, today))
        (figures.upcoming if days_left >= 0 else figures.overdue).append(standing)
    figures.upcoming.sort(key=lambda s: (s.days_left, s.item.item.lower(), s.item.item_id))
    figures.overdue.sort(key=lambda s: (s.days_left, s.item.item.lower(), s.item.item_id))
    return figures


def _state(pings: list[SentPing], acks: list[Ack], today: date) -> str:
    delivered = [p for p in pings if p.sent and p.sent_on <= today]
    stopped = _escalation_answered(delivered, acks, today)
    snoozes = [a for a in acks if a.action == SNOOZE and a.snooze_until]
    if snoozes and snoozes[-1].snooze_until and snoozes[-1].snooze_until > today:
        # A snooze, like an Ack only, stops the escalation only when it came after the latest one.
        snoozed = f"snoozed until {human_date(snoozes[-1].snooze_until)}"
        return snoozed if stopped else f"{snoozed}, still escalating"
    if any(a.action == ACK_ONLY for a in acks):
        return ANSWERED if stopped else STILL_ESCALATING
    if not delivered:
        # A first alert that fell on a weekend waits in a one-off schedule: say when it goes out.
        later = sorted(p.sent_on for p in pings if p not in delivered)
        return f"first alert on {human_date(later[0])}" if later else NOT_ALERTED
    if any(p.move == ESCALATE for p in delivered):
        return f"{WAITING}, escalated"
    return WAITING


def _escalation_answered(delivered: list[SentPing], acks: list[Ack], today: date) -> bool:
    """No escalation went out, or the latest answer since the latest one is an Ack only or a snooze
    that has not run out: what stops the escalations, read as the tick reads it (DESIGN.md §6 rule 3,
    ew.chain._escalation_due)."""
    escalations = sorted((p for p in delivered if p.move == ESCALATE), key=lambda p: p.chain_index)
    if not escalations:
        return True
    since = sorted((a for a in acks if a.at.date() >= escalations[-1].sent_on), key=lambda a: a.at)
    if not since:
        return False
    latest = since[-1]
    return latest.action == ACK_ONLY or (
        latest.action == SNOOZE and latest.snooze_until is not None and latest.snooze_until > today
    )


# -- the message ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestEmail:
    subject: str
    text: str
    html: str


def week_label(start: date, end: date) -> str:
    """ "23-29 Nov 2026", "30 Nov - 6 Dec 2026", "28 Dec 2026 - 3 Jan 2027"."""
    if start.year != end.year:
        return f"{human_date(start)} - {human_date(end)}"
    if start.month != end.month:
        return f"{start.day} {start:%b} - {human_date(end)}"
    return f"{start.day}-{human_date(end)}"


def due_words(days_left: int) -> str:
    if days_left == 0:
        return "today"
    if days_left == 1:
        return "tomorrow"
    if days_left == -1:
        return "yesterday"
    return f"in {days_left:,} days" if days_left > 0 else f"{-days_left:,} days ago"


def line_values(standing: Standing, for_slack: bool) -> dict[str, object]:
    """The `[digest]` placeholders for one listed item. In Slack, sheet text is escaped (a cell must
    not turn into a link or a mention) and a Slack owner is a mention, which Slack shows by name."""
    item = standing.item

    def cell(text: str, limit: int = MAX_CELL) -> str:
        # Cut before escaping, so a long name never pushes the date and the state off the line.
        text = _clip(" ".join(text.split()), limit)
        return escape_mrkdwn(text) if for_slack else text

    owner = f"<@{item.owner}>" if for_slack and item.owner_is_slack else cell(item.owner)
    return {
        "item": cell(item.item),
        "category": cell(item.category or "uncategorised", 40),
        "expiry_date": human_date(item.expiry_date),
        "days_left": standing.days_left,
        "owner": owner,
        "notes": cell(item.notes, 120),
        "renewal_link": item.renewal_link,
        "escalated_from": "",
        "state": standing.state,
        "due": due_words(standing.days_left),
    }


def summary_lines(figures: WeekFigures) -> list[str]:
    """The week's counts, one line each: "*Pings sent:* 10 (7 reminders, 3 escalations; 6 by Slack,
    4 by email)" and "*Answers:* 2 (1 renewed, 1 snoozed)"."""
    moves = [_count(figures.pings_by_move[m], word) for m, word in _MOVE_WORDS if figures.pings_by_move[m]]
    by = (("slack", "Slack"), ("email", "email"))
    channels = [f"{figures.pings_by_channel[c]:,} by {name}" for c, name in by if figures.pings_by_channel[c]]
    pings = f"*Pings sent:* {figures.pings:,}"
    if moves:
        pings += f" ({'; '.join(filter(None, [', '.join(moves), ', '.join(channels)]))})"
    answers = f"*Answers:* {sum(figures.answers.values()):,}"
    parts = [f"{figures.answers[a]:,} {word}" for a, word in _ACTION_WORDS if figures.answers[a]]
    if parts:
        answers += f" ({', '.join(parts)})"
    return [pings, answers]


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _clip(line: str, limit: int = MAX_LINE) -> str:
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class _List:
    title: str
    total: int
    lines: list[str]  # at most the shown count, then an "…and N more" line


def _lists(figures: WeekFigures, voice: Voice, for_slack: bool, shown: dict[str, int]) -> list[_List]:
    def cut(kind: str, rows: list[str], more: str) -> list[str]:
        cap = shown[kind]
        lines = [_clip(row) for row in rows[:cap]]
        if len(rows) > cap:
            lines.append(f"…and {len(rows) - cap:,} more {more}")
        return lines

    def item_line(standing: Standing) -> str:
        line = " ".join(voice.render("digest", line_values(standing, for_slack)).split())  # one line each
        return line if for_slack else _BOLD.sub(r"\1", line)

    problems = [escape_mrkdwn(p) if for_slack else p for p in figures.problems]
    upcoming = [item_line(s) for s in figures.upcoming]
    overdue = [item_line(s) for s in figures.overdue]
    soon = f"expiring in the next {UPCOMING_DAYS} days"
    return [
        _List(soon.capitalize(), len(upcoming), cut("upcoming", upcoming, f"{soon}: see the sheet")),
        _List(
            "Past expiry, not renewed", len(overdue), cut("overdue", overdue, "past expiry: see the sheet")
        ),
        _List("Sheet problems", len(problems), cut("problems", problems, "problems: see the sheet")),
    ]


def slack_digest(figures: WeekFigures, voice: Voice, timezone: str) -> tuple[str, list[dict[str, Any]]]:
    """(notification text, Block Kit blocks) for chat.postMessage, within Slack's limits whatever the
    figures."""
    label = week_label(figures.start, figures.end)
    header = _clip(f"Weekly digest: {label}", MAX_HEADER_TEXT)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        text_section("\n".join(summary_lines(figures))),
        {"type": "divider"},
    ]
    for listed in _lists(figures, voice, True, SLACK_SHOWN):
        if not listed.total:
            blocks.append(text_section(f"*{listed.title}:* none"))
            continue
        heading = f"*{listed.title}* ({listed.total:,})"
        blocks.extend(text_section(text) for text in _pack(heading, [f"• {line}" for line in listed.lines]))
    blocks.append(context(f"Expiry Watcher · {label} · dates in {timezone}"))
    if len(blocks) > MAX_BLOCKS:  # cannot happen with the caps above; never let Slack refuse the digest
        blocks = [*blocks[: MAX_BLOCKS - 1], context("…the rest did not fit in one message: see the sheet")]
    text = _clip(f"Weekly digest {label}: {notification(figures)}", MAX_FALLBACK_TEXT)
    return text, blocks


def notification(figures: WeekFigures) -> str:
    return (
        f"{_count(figures.pings, 'ping')}, {_count(sum(figures.answers.values()), 'answer')}, "
        f"{len(figures.upcoming):,} expiring in {UPCOMING_DAYS} days, {len(figures.overdue):,} past expiry, "
        f"{_count(len(figures.problems), 'sheet problem')}"
    )


def _pack(heading: str, lines: list[str]) -> list[str]:
    """Section texts of at most MAX_SECTION_TEXT characters: the heading, then whole lines."""
    texts: list[str] = []
    current = heading
    for line in lines:
        if len(current) + 1 + len(line) > MAX_SECTION_TEXT:
            texts.append(current)
            current = line
        else:
            current += "\n" + line
    texts.append(current)
    return texts


def email_digest(figures: WeekFigures, voice: Voice, timezone: str) -> DigestEmail:
    """The same digest as an email (when there is no digest channel or Slack is down)."""
    label = week_label(figures.start, figures.end)
    paragraphs = [_BOLD.sub(r"\1", "\n".join(summary_lines(figures)))]
    for listed in _lists(figures, voice, False, EMAIL_SHOWN):
        if not listed.total:
            paragraphs.append(f"{listed.title}: none")
        else:
            paragraphs.append(
                f"{listed.title} ({listed.total:,}):\n" + "\n".join(f"- {line}" for line in listed.lines)
            )
    paragraphs.append(f"Expiry Watcher · {label} · dates in {timezone}")
    text = "\n\n".join(paragraphs)
    return DigestEmail(f"Expiry Watcher weekly digest: {label}", text, render_html(text))
