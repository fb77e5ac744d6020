"""Deployment settings (Parameter Store `/ew/config/` on AWS, flags in the local runner)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from opskit.business_time import DEFAULT_QUIET_HOURS, BusinessCalendar, QuietHours, parse_holiday_region


@dataclass(frozen=True)
class Settings:
    timezone: str = "UTC"
    holidays: str | None = None  # "GB-ENG", "US", ... (None: no public holidays)
    quiet_hours: QuietHours = DEFAULT_QUIET_HOURS
    admin: str | None = None  # fallback escalation owner
    date_order: str | None = None  # "dmy" / "mdy" for numeric sheet dates
    sender: str = "watcher@example.com"
    digest_channel: str = ""
    intake_channel: str = ""
    summary_recipients: tuple[str, ...] = field(default_factory=tuple)
    calendar_ids: tuple[str, ...] = field(default_factory=tuple)
    registry_sheet_id: str = ""  # the Google Sheet the renew button writes back to
    registry_sheet_tab: str = ""  # its tab ("" = the first one)
    rules_doc_id: str = ""  # the Google Doc drive-sync mirrors to rules.txt ("" = not synced)
    voice_doc_id: str = ""  # the Google Doc drive-sync mirrors to voice.txt ("" = not synced)

    def calendar(self, closed: Iterable[date] = ()) -> BusinessCalendar:
        country, region = parse_holiday_region(self.holidays)
        return BusinessCalendar(
            self.timezone, quiet_hours=self.quiet_hours, country=country, subdivision=region, closed=closed
        )
