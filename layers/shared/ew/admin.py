"""Telling the admin (`/ew/config/admin`) something: a Slack DM when the admin is a Slack user ID or an
email Slack knows (users.lookupByEmail), else an email through SES, the way alerts find their owner
(DESIGN.md §7). Used for problems in the sheet and docs (drive-sync) and in calendars (calendar-sync).
"""

from __future__ import annotations

import logging
from typing import Any

from ew.items import is_email
from ew.settings import Settings
from opskit.mail import build_message, send_raw
from opskit.slack import SlackGateway, SlackUnavailable, escape_mrkdwn, text_section

log = logging.getLogger(__name__)

SLACK_SECTION_LIMIT = 3000  # characters in one Block Kit section


class AdminUnreachable(RuntimeError):
    """Nobody could be told: no admin is configured, or neither Slack nor email reached them."""


class AdminChannel:
    def __init__(
        self, settings: Settings, slack: SlackGateway | None, ses: Any, config_path: str = "/ew/config/"
    ):
        self.settings = settings
        self.slack = slack
        self.ses = ses
        self.config_path = config_path
        self.sent: list[tuple[str, str, str]] = []  # (channel, subject, text), for reports and tests

    def tell(self, subject: str, text: str) -> None:
        """`text` is plain words (it is escaped for Slack); `subject` is the email subject."""
        admin = (self.settings.admin or "").strip()
        if not admin:
            raise AdminUnreachable(
                f"nobody can be told ({subject}): set {self.config_path}admin to a Slack user ID or an email"
            )
        slack_user = self._slack_user(admin)
        if slack_user and self.slack is not None:
            body = escape_mrkdwn(text)
            if len(body) > SLACK_SECTION_LIMIT:
                body = body[: SLACK_SECTION_LIMIT - 1] + "…"
            try:
                self.slack.post(slack_user, text, [text_section(body)])
                self.sent.append(("slack", subject, text))
                return
            except SlackUnavailable as exc:
                log.warning("could not DM the admin, trying email: %s", exc)
        if not is_email(admin):
            raise AdminUnreachable(f"Slack did not take the message for the admin {admin} ({subject})")
        message = build_message(self.settings.sender, admin, subject, text)
        send_raw(self.ses, message)
        self.sent.append(("email", subject, text))

    def _slack_user(self, admin: str) -> str | None:
        if self.slack is None:
            return None
        if not is_email(admin):
            return admin
        try:
            return self.slack.user_id_for_email(admin)
        except SlackUnavailable as exc:
            log.warning("Slack lookup of the admin failed, sending email instead: %s", exc)
            return None
