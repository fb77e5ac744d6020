"""The monthly summary service (DESIGN.md §3, §9): last month's figures, a board paragraph a model
writes from them (checked: every number must be a figure), emailed once a month through SES. Without a
usable paragraph (Bedrock throttled, denied, down, or an answer that invents a number) the plain
paragraph goes out instead: the email never waits on the model."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ew.activity import ActivityReader
from ew.items import is_email
from ew.reporting import OncePerPeriod, registry_items
from ew.settings import Settings
from ew.summary import (
    SYSTEM_PROMPT,
    MonthFigures,
    month_figures,
    narrative_problem,
    narrative_prompt,
    plain_paragraph,
    report_month,
    summary_email,
)
from opskit.bulk_reads import bulk_load
from opskit.converse import TextModel
from opskit.mail import build_message, send_raw
from opskit.state import StateTable

log = logging.getLogger(__name__)

# The global cross-Region inference profile of Claude Haiku 4.5 (template.yaml grants exactly it).
MODEL_ID = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
# summary's Timeout in template.yaml is 240 s; Lambda's first retry of a failed run comes about a
# minute after it failed (see ew.reporting.OncePerPeriod).
LEASE = timedelta(seconds=270)
KEEP = timedelta(days=400)
SENT, DUPLICATE = "sent", "duplicate"


class SummaryError(RuntimeError):
    """The summary cannot be sent; the message says why in plain words."""


@dataclass
class SummaryDeps:
    activity: ActivityReader
    s3: Any
    ses: Any
    state: StateTable
    settings: Settings
    registry_bucket: str
    model: TextModel | None  # None: no model configured, the plain paragraph goes out
    # The wall clock, for the claim's lease: a retried event keeps its scheduled time, the clock moves on.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class SummaryResult:
    status: str  # "sent" or "duplicate"
    month: date
    narrative: str  # "model", or "plain" and why in fallback
    fallback: str = ""  # why the plain paragraph went out ("" when the model's did)
    figures: dict[str, str] = field(default_factory=dict)
    recipients: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "month": self.month.isoformat()[:7],
            "narrative": self.narrative,
            "fallback": self.fallback,
            "figures": self.figures,
            "recipients": self.recipients,
        }


def summary_month(event: dict[str, Any] | None, now: datetime, timezone: str) -> date:
    """The month to report on: the event's "month" ("2026-11", a manual re-run) or the one before
    `now`'s, in the configured timezone."""
    month = (event or {}).get("month")
    if month:
        try:
            return date.fromisoformat(f"{month}-01")
        except ValueError:
            raise SummaryError(f'"month" must look like 2026-11, found "{month}"') from None
    return report_month(now.astimezone(ZoneInfo(timezone)).date())


def build_figures(deps: SummaryDeps, month: date) -> MonthFigures:
    with bulk_load() as loaded:  # as the digest's build_digest
        items, _problems = registry_items(deps.s3, deps.registry_bucket, deps.settings.date_order)
        pings = deps.activity.pings()
        # A renewal typed into the sheet is a renewal as much as a click's: in the count and the median.
        acks = [*deps.activity.acks(), *deps.activity.sheet_renewals()]
        loaded()
        return month_figures(items, pings, acks, month, deps.settings.timezone)


def write_paragraph(figures: MonthFigures, model: TextModel | None) -> tuple[str, str]:
    """(the paragraph, why the plain one is used: "" when the model's is)."""
    if model is None:
        return plain_paragraph(figures), "no model configured"
    try:
        text = " ".join(model(SYSTEM_PROMPT, narrative_prompt(figures)).split())
    except Exception as exc:  # the narrative is optional: any failure means the plain paragraph
        return plain_paragraph(figures), f"{type(exc).__name__}: {exc}"
    problem = narrative_problem(text, figures)
    if problem:
        return plain_paragraph(figures), f"rejected the model's paragraph: {problem}"
    return text, ""


def recipients(settings: Settings) -> list[str]:
    if settings.summary_recipients:
        return list(settings.summary_recipients)
    if settings.admin and is_email(settings.admin):
        return [settings.admin]
    raise SummaryError(
        "nobody to send the summary to: set /ew/config/summary_recipients "
        "(comma-separated email addresses) or an email address in /ew/config/admin"
    )


def send_summary(deps: SummaryDeps, month: date) -> SummaryResult:
    to = recipients(deps.settings)
    figures = build_figures(deps, month)
    period = month.isoformat()[:7]
    once = OncePerPeriod(deps.state, "summary", LEASE, KEEP)
    held = once.start(period, deps.clock())
    if held is None:
        log.info("the summary of %s was sent already: nothing sent", period)
        return SummaryResult(DUPLICATE, month, "", figures=figures.as_dict())
    with deps.state.holding(held):  # a failed send gives the claim back: the retry sends it
        paragraph, fallback = write_paragraph(figures, deps.model)
        content = summary_email(figures, paragraph, written_by_model=not fallback)
        message = build_message(
            deps.settings.sender, ", ".join(to), content.subject, content.text, content.html
        )
        send_raw(deps.ses, message)
    return SummaryResult(
        SENT, month, "plain" if fallback else "model", fallback, figures.as_dict(), recipients=len(to)
    )
