"""The weekly digest and the monthly summary read back from the tables as the functions write them:
a ping sent between one digest and the next is in exactly one digest."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

from ew import runtime
from ew.chain import ESCALATE, Ping
from ew_local.cloud import LambdaContext, LocalCloud, load_handler

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme"
LONDON = ZoneInfo("Europe/London")
SETTINGS = {
    "timezone": "Europe/London",
    "holidays": "GB-ENG",
    "admin": "ops@acme.example",
    "digest_channel": "C0EWDIGEST",
}


def digest(day: date) -> dict[str, Any]:
    """The digest as its schedule starts it, Sunday 18:00 of `day`."""
    moment = datetime.combine(day, time(18), LONDON)
    with patch.object(runtime, "utc_now", lambda: moment):
        result: dict[str, Any] = load_handler("digest").handler(
            {"scheduled_time": moment.isoformat()}, LambdaContext("ew-digest")
        )
    return result


def mirror_example(cloud: LocalCloud) -> None:
    cloud.mirror(*((EXAMPLE / name).read_bytes() for name in ("registry.csv", "rules.txt", "voice.txt")))


def test_a_ping_sent_on_sunday_evening_after_the_digest_is_in_the_next_weeks_pings() -> None:
    with LocalCloud(SETTINGS) as cloud:
        mirror_example(cloud)
        assert digest(date(2026, 11, 29))["figures"]["pings_by_move"] == {}
        # Sunday 19:30, after the 18:00 digest: an escalation goes out at once (its notice date is too
        # close to wait for Monday), as dispatch records it.
        evening = datetime(2026, 11, 29, 19, 30, tzinfo=LONDON)
        ping = Ping("ACME-001", date(2027, 3, 31), 0, ESCALATE, evening.date(), "ops@acme.example")
        assert cloud.store.claim(ping, evening, "email", "sending")
        cloud.store.mark_sent("ACME-001", 0, "email", None)
        assert digest(date(2026, 12, 6))["figures"]["pings_by_move"] == {ESCALATE: 1}
