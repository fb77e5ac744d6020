"""The weekly digest service (DESIGN.md §3): read the week back, post one message to the digest channel
(or to the admin, as ew.admin reaches them, when there is none; by email when Slack is down), once per
week."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ew.activity import ActivityReader
from ew.daily_tick import read_voice
from ew.digest import WeekFigures, email_digest, slack_digest, week_figures
from ew.items import is_email
from ew.reporting import OncePerPeriod, registry_items
from ew.settings import Settings
from opskit.bulk_reads import bulk_load
from opskit.mail import build_message, send_raw
from opskit.slack import SlackGateway, SlackUnavailable
from opskit.state import StateTable

log = logging.getLogger(__name__)

# digest's Timeout in template.yaml is 180 s: a claim older than this belongs to a run that is gone,
# and Lambda's first retry of a failed run comes about a minute after it failed.
LEASE = timedelta(seconds=210)
KEEP = timedelta(days=60)
SENT, DUPLICATE = "sent", "duplicate"


class DigestError(RuntimeError):
    """The digest cannot be delivered; the message says why in plain words."""


@dataclass
class DigestDeps:
    activity: ActivityReader
    s3: Any
    ses: Any
    slack: SlackGateway | None  # None: no bot token, the digest goes by email
    state: StateTable
    settings: Settings
    registry_bucket: str
    rules_bucket: str
    # Sheet-level problems another part of the system recorded (drive-sync: a header or doc that does
    # not parse); listed with the registry's row problems.
    extra_problems: list[str] = field(default_factory=list)
    # The wall clock, for the claim's lease: a retried event keeps its scheduled time, the clock moves on.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class DigestResult:
    status: str  # "sent" or "duplicate"
    week_end: date
    via: str = ""  # "slack" or "email"
    fell_back: bool = False  # Slack failed and the email went instead
    figures: dict[str, Any] = field(default_factory=dict)
    requests: int = 0  # DynamoDB requests made to read the week: pages, not items

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "week_end": self.week_end.isoformat(),
            "via": self.via,
            "fell_back": self.fell_back,
            "figures": self.figures,
            "requests": self.requests,
        }


def digest_period(now: datetime, timezone: str) -> date:
    """The digest's day (the week's last day), in the configured timezone."""
    return now.astimezone(ZoneInfo(timezone)).date()


def build_digest(deps: DigestDeps, now: datetime) -> WeekFigures:
    today = digest_period(now, deps.settings.timezone)
    # A whole registry and every ping ever sent, none of it garbage before the end: the cyclic
    # collector is kept off it, as in the tick (a third of the time at 100,000 items).
    with bulk_load() as loaded:
        items, problems = registry_items(deps.s3, deps.registry_bucket, deps.settings.date_order)
        pings = deps.activity.pings()
        acks = deps.activity.acks()
        loaded()
        problems = [*problems, *deps.extra_problems]
        return week_figures(items, pings, acks, today, deps.settings.timezone, problems, until=now)


def send_digest(deps: DigestDeps, now: datetime) -> DigestResult:
    figures = build_digest(deps, now)
    once = OncePerPeriod(deps.state, "digest", LEASE, KEEP)
    period = figures.end.isoformat()
    base = DigestResult(DUPLICATE, figures.end, figures=figures.as_dict(), requests=deps.activity.requests)
    held = once.start(period, deps.clock())
    if held is None:
        log.info("the digest of the week to %s was sent already: nothing sent", period)
        return base
    with deps.state.holding(held):  # a failed send gives the claim back: the retry sends it
        via, fell_back = deliver(figures, deps)
    return DigestResult(SENT, figures.end, via, fell_back, base.figures, base.requests)


def deliver(figures: WeekFigures, deps: DigestDeps) -> tuple[str, bool]:
    """Post to the digest channel (the admin's DM when no channel is set); else, or when Slack
    fails, email an email admin. Returns (channel used, fell back from Slack)."""
    settings = deps.settings
    voice = read_voice(deps.s3, deps.rules_bucket)
    email_admin = settings.admin if settings.admin and is_email(settings.admin) else None
    channel: str | None = settings.digest_channel
    fell_back = False
    if not channel and settings.admin and deps.slack:
        # The admin found the way every notice finds them (ew.admin): a Slack user ID, or an email
        # Slack knows; an email it does not know is mailed, and a failed lookup falls back to email.
        try:
            channel = deps.slack.user_id_for_email(settings.admin) if email_admin else settings.admin
        except SlackUnavailable as exc:
            log.warning("Slack lookup of the admin failed, emailing the digest instead: %s", exc)
            fell_back = True
    if deps.slack and channel:
        text, blocks = slack_digest(figures, voice, settings.timezone)
        try:
            deps.slack.post(channel, text, blocks)
            return "slack", False
        except SlackUnavailable as exc:
            if email_admin is None:
                raise DigestError(f"the digest was not posted and there is no email admin: {exc}") from exc
            log.warning("Slack failed, emailing the digest to the admin instead: %s", exc)
            fell_back = True
    elif email_admin is None:
        raise DigestError(
            "nowhere to send the digest: set /ew/config/digest_channel (and the Slack bot token), "
            "or an email address in /ew/config/admin"
        )
    content = email_digest(figures, voice, settings.timezone)
    send_raw(
        deps.ses, build_message(settings.sender, email_admin, content.subject, content.text, content.html)
    )
    return "email", fell_back
