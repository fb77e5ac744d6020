"""Settings from Parameter Store: a bad value names the parameter to fix."""

from __future__ import annotations

from datetime import time

import pytest

from ew.runtime import settings_from
from opskit.business_time import QuietHours
from opskit.config import ConfigError


def test_settings_are_read_from_their_parameters() -> None:
    settings = settings_from(
        {
            "timezone": "Europe/London",
            "holidays": "GB-ENG",
            "quiet_hours": "18:30-07:45",
            "admin": "ops@acme.example",
            "date_order": "dmy",
            "summary_recipients": "board@acme.example, chair@acme.example",
            "calendar_ids": "ops@acme.example",
        }
    )
    assert settings.timezone == "Europe/London" and settings.holidays == "GB-ENG"
    assert settings.quiet_hours == QuietHours(time(18, 30), time(7, 45))
    assert settings.summary_recipients == ("board@acme.example", "chair@acme.example")
    assert settings.date_order == "dmy" and settings.admin == "ops@acme.example"


def test_missing_settings_take_the_defaults() -> None:
    settings = settings_from({})
    assert (settings.timezone, settings.holidays, settings.admin) == ("UTC", None, None)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"quiet_hours": "7pm-8am"},
            '/ew/config/quiet_hours: quiet hours must look like 19:00-08:00, found "7pm-8am"',
        ),
        (
            {"timezone": "Mars/Base"},
            '/ew/config/timezone / /ew/config/holidays: unknown timezone "Mars/Base": '
            "use a name such as America/New_York or Europe/London",
        ),
        (
            {"holidays": "XX"},
            '/ew/config/timezone / /ew/config/holidays: unknown holiday country "XX": '
            "use a two-letter code such as US, GB or DE",
        ),
    ],
)
def test_a_bad_setting_names_its_parameter(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from(values)
    assert str(raised.value) == message
