from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from opskit.business_time import (
    DEFAULT_QUIET_HOURS,
    BusinessCalendar,
    DeliveryPlan,
    QuietHours,
    parse_holiday_region,
    parse_quiet_hours,
    plan_delivery,
)

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
ON_OR_BEFORE = "on or before the next business day"


def at(tz: ZoneInfo, text: str) -> datetime:
    """An aware local time from "2026-06-01 10:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


# --- quiet hours ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19:00-08:00", QuietHours(time(19), time(8))),
        (" 19:00 \u2013 08:00 ", QuietHours(time(19), time(8))),  # en dash, spaces around
        ("7:30-8:00", QuietHours(time(7, 30), time(8))),
        ("12:00-13:00", QuietHours(time(12), time(13))),
        ("00:00-00:00", QuietHours(time(0), time(0))),
    ],
)
def test_parse_quiet_hours(text: str, expected: QuietHours) -> None:
    assert parse_quiet_hours(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("7pm-8am", 'quiet hours must look like 19:00-08:00, found "7pm-8am"'),
        ("25:00-08:00", 'quiet hours must look like 19:00-08:00, found "25:00-08:00"'),
        ("19:00", 'quiet hours must look like 19:00-08:00, found "19:00"'),
        ("", 'quiet hours must look like 19:00-08:00, found ""'),
    ],
)
def test_parse_quiet_hours_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_quiet_hours(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("quiet", "t", "expected"),
    [
        (DEFAULT_QUIET_HOURS, time(19, 0), True),  # start inclusive
        (DEFAULT_QUIET_HOURS, time(18, 59), False),
        (DEFAULT_QUIET_HOURS, time(0, 0), True),  # wraps midnight
        (DEFAULT_QUIET_HOURS, time(7, 59), True),
        (DEFAULT_QUIET_HOURS, time(8, 0), False),  # end exclusive
        (QuietHours(time(12), time(13)), time(12, 30), True),
        (QuietHours(time(12), time(13)), time(13, 0), False),
        (QuietHours(time(12), time(13)), time(20, 0), False),
        (QuietHours(time(0), time(0)), time(3, 0), False),  # start == end: never quiet
    ],
)
def test_quiet_hours_contains(quiet: QuietHours, t: time, expected: bool) -> None:
    assert quiet.contains(t) is expected


# --- holiday region ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GB", ("GB", None)),
        ("GB-ENG", ("GB", "ENG")),
        ("US-NY", ("US", "NY")),
        ("de-by", ("DE", "BY")),
        (" gb - sct ", ("GB", "SCT")),
        (None, (None, None)),
        ("", (None, None)),
    ],
)
def test_parse_holiday_region(text: str | None, expected: tuple[str | None, str | None]) -> None:
    assert parse_holiday_region(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("XX", 'unknown holiday country "XX": use a two-letter code such as US, GB or DE'),
        ("GB-ZZ", 'unknown region "ZZ" for GB: use one of ENG, NIR, SCT, WLS'),
        ("AL-X", 'unknown region "X" for AL: AL has no regions, use AL'),
    ],
)
def test_parse_holiday_region_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_holiday_region(text)
    assert str(caught.value) == message


# --- calendar construction and plain answers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"timezone": "Mars/Base"},
            'unknown timezone "Mars/Base": use a name such as America/New_York or Europe/London',
        ),
        ({"timezone": ""}, 'unknown timezone "": use a name such as America/New_York or Europe/London'),
        (
            {"timezone": "UTC", "country": "XX"},
            'unknown holiday country "XX": use a two-letter code such as US, GB or DE',
        ),
        (
            {"timezone": "UTC", "country": "GB", "subdivision": "ZZ"},
            'unknown region "ZZ" for GB: use one of ENG, NIR, SCT, WLS',
        ),
        ({"timezone": "UTC", "subdivision": "SCT"}, 'holiday region "SCT" needs a country, such as GB-SCT'),
    ],
)
def test_calendar_rejects_bad_settings(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        BusinessCalendar(**kwargs)
    assert str(caught.value) == message


def test_naive_datetime_is_refused_in_plain_words() -> None:
    with pytest.raises(ValueError) as caught:
        BusinessCalendar("America/New_York").is_business_time(datetime(2026, 6, 1, 10, 0))
    assert str(caught.value) == "2026-06-01T10:00:00 has no timezone: pass an aware datetime"


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (date(2026, 6, 5), None),
        (date(2026, 6, 6), "Saturday"),
        (date(2026, 6, 7), "Sunday"),
        (date(2026, 11, 26), "Thanksgiving Day"),
        (date(2026, 6, 3), "closed"),
    ],
)
def test_closed_reason(day: date, reason: str | None) -> None:
    calendar = BusinessCalendar("America/New_York", country="US", closed=[date(2026, 6, 3)])
    assert calendar.closed_reason(day) == reason


def test_holidays_are_built_once_per_year(monkeypatch: pytest.MonkeyPatch) -> None:
    real = holidays.country_holidays
    years: list[object] = []

    def counting(*args: object, **kwargs: object) -> holidays.HolidayBase:
        years.append(kwargs.get("years"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(holidays, "country_holidays", counting)
    calendar = BusinessCalendar("America/New_York", country="US")
    for day in (date(2026, 11, 26), date(2026, 12, 25), date(2026, 1, 1), date(2027, 1, 1)):
        assert calendar.closed_reason(day) is not None
    assert [y for y in years if y is not None] == [2026, 2027]


def test_holiday_names_are_english_whatever_the_server_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGE", "th")  # `holidays` would otherwise follow the locale (both support Thai)
    assert BusinessCalendar("Europe/London", country="GB").closed_reason(date(2026, 12, 28)) == (
        "Boxing Day (observed)"
    )
    assert BusinessCalendar("Europe/Berlin", country="DE", subdivision="BY").closed_reason(
        date(2026, 1, 6)
    ) == ("Epiphany")


def test_next_business_minute_keeps_seconds_only_when_already_in_business_time() -> None:
    calendar = BusinessCalendar("America/New_York")
    assert calendar.next_business_minute(at(NY, "2026-06-03 10:00:30.5")) == at(NY, "2026-06-03 10:00:30.5")
    assert calendar.next_business_minute(at(NY, "2026-06-03 07:59:30.5")) == at(NY, "2026-06-03 08:00")


def test_inputs_in_utc_are_read_in_the_calendar_timezone() -> None:
    calendar = BusinessCalendar("America/New_York")
    friday_night = datetime(2026, 6, 6, 2, 0, tzinfo=UTC)  # Friday 22:00 in New York, Saturday in UTC
    assert calendar.local_date(friday_night) == date(2026, 6, 5)
    assert not calendar.is_business_time(friday_night)
    assert calendar.is_business_time(datetime(2026, 6, 5, 22, 30, tzinfo=UTC))  # 18:30 in New York

    plan = BusinessCalendar("America/New_York").next_business_minute(friday_night)
    assert plan == at(NY, "2026-06-08 08:00")
    assert plan.tzinfo == NY


# --- delivery plans: ordinary week ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "send_at", "reason"),
    [
        ("2026-06-03 10:00:30.5", "2026-06-03 10:00:30.5", None),  # business time: as is, seconds kept
        ("2026-06-03 08:00", "2026-06-03 08:00", None),  # quiet end is exclusive
        ("2026-06-03 18:59", "2026-06-03 18:59", None),
        ("2026-06-03 19:00", "2026-06-04 08:00", "quiet hours"),  # quiet start is inclusive
        ("2026-06-03 07:59", "2026-06-03 08:00", "quiet hours"),
        ("2026-06-03 00:00", "2026-06-03 08:00", "quiet hours"),
        ("2026-06-05 19:30", "2026-06-08 08:00", "quiet hours"),  # Friday evening to Monday
        ("2026-06-06 12:00", "2026-06-08 08:00", "Saturday"),
        ("2026-06-07 23:00", "2026-06-08 08:00", "Sunday"),
    ],
)
def test_plan_delivery_in_an_ordinary_week(now: str, send_at: str, reason: str | None) -> None:
    plan = plan_delivery(at(NY, now), BusinessCalendar("America/New_York"))
    assert plan == DeliveryPlan(at(NY, send_at), deferred=reason is not None, reason=reason)
    assert plan.send_at.tzinfo == NY


@pytest.mark.parametrize(
    ("region", "zone", "now", "send_at", "reason"),
    [
        ("US", "America/New_York", "2026-11-26 10:00", "2026-11-27 08:00", "Thanksgiving Day"),
        ("US", "America/New_York", "2026-11-25 19:30", "2026-11-27 08:00", "quiet hours"),
        # Christmas Friday, weekend, then Boxing Day observed on Monday 28th.
        ("GB-ENG", "Europe/London", "2026-12-24 20:00", "2026-12-29 08:00", "quiet hours"),
        ("GB-ENG", "Europe/London", "2026-12-28 09:00", "2026-12-29 08:00", "Boxing Day (observed)"),
        # 2 January is a holiday in Scotland only.
        ("GB-SCT", "Europe/London", "2026-01-02 10:00", "2026-01-05 08:00", "New Year Holiday"),
        ("GB-ENG", "Europe/London", "2026-01-02 10:00", "2026-01-02 10:00", None),
        # Epiphany is a holiday in Bavaria, not in all of Germany; names come in English.
        ("DE-BY", "Europe/Berlin", "2026-01-06 10:00", "2026-01-07 08:00", "Epiphany"),
        ("DE", "Europe/Berlin", "2026-01-06 10:00", "2026-01-06 10:00", None),
    ],
)
def test_plan_delivery_around_holidays(
    region: str, zone: str, now: str, send_at: str, reason: str | None
) -> None:
    country, subdivision = parse_holiday_region(region)
    calendar = BusinessCalendar(zone, country=country, subdivision=subdivision)
    tz = ZoneInfo(zone)
    assert plan_delivery(at(tz, now), calendar) == DeliveryPlan(
        at(tz, send_at), deferred=reason is not None, reason=reason
    )


def test_closed_date_is_skipped() -> None:
    calendar = BusinessCalendar("America/New_York", closed=[date(2026, 6, 3)])
    assert plan_delivery(at(NY, "2026-06-02 19:30"), calendar) == DeliveryPlan(
        at(NY, "2026-06-04 08:00"), deferred=True, reason="quiet hours"
    )
    assert plan_delivery(at(NY, "2026-06-03 10:00"), calendar) == DeliveryPlan(
        at(NY, "2026-06-04 08:00"), deferred=True, reason="closed"
    )


def test_closed_run_over_christmas_and_new_year() -> None:
    # Closed 24 Dec to 4 Jan, on top of English bank holidays and weekends: the next year's holidays load too.
    closed = [date(2026, 12, 24) + timedelta(days=i) for i in range(12)]
    calendar = BusinessCalendar("Europe/London", country="GB", subdivision="ENG", closed=closed)
    assert calendar.is_business_time(at(LONDON, "2026-12-23 18:59"))
    assert calendar.next_business_minute(at(LONDON, "2026-12-23 19:00")) == at(LONDON, "2027-01-05 08:00")


def test_search_gives_up_after_366_days() -> None:
    start = date(2026, 6, 1)
    closed_366 = [start + timedelta(days=i) for i in range(366)]
    calendar = BusinessCalendar("UTC", closed=closed_366, weekend=())
    assert calendar.next_business_minute(at(ZoneInfo("UTC"), "2026-06-01 10:00")) == at(
        ZoneInfo("UTC"), "2027-06-02 08:00"
    )

    always_closed = BusinessCalendar("UTC", closed=[*closed_366, start + timedelta(days=366)], weekend=())
    with pytest.raises(ValueError) as caught:
        always_closed.next_business_minute(at(ZoneInfo("UTC"), "2026-06-01 10:00"))
    assert str(caught.value) == (
        "no business time within 366 days after 2026-06-01: check the quiet hours, holidays and closed dates"
    )


@pytest.mark.parametrize(
    ("quiet", "now", "send_at", "reason"),
    [
        ("12:00-13:00", "2026-06-03 11:59", "2026-06-03 11:59", None),
        ("12:00-13:00", "2026-06-03 12:00", "2026-06-03 13:00", "quiet hours"),
        ("12:00-13:00", "2026-06-03 12:59", "2026-06-03 13:00", "quiet hours"),
        ("12:00-13:00", "2026-06-03 21:00", "2026-06-03 21:00", None),  # the default window does not apply
        ("12:00-13:00", "2026-06-05 12:30", "2026-06-05 13:00", "quiet hours"),
        ("00:00-00:00", "2026-06-03 03:00", "2026-06-03 03:00", None),  # no quiet hours at all
        ("00:00-00:00", "2026-06-06 03:00", "2026-06-08 00:00", "Saturday"),
    ],
)
def test_other_quiet_windows(quiet: str, now: str, send_at: str, reason: str | None) -> None:
    calendar = BusinessCalendar("America/New_York", quiet_hours=parse_quiet_hours(quiet))
    assert plan_delivery(at(NY, now), calendar) == DeliveryPlan(
        at(NY, send_at), deferred=reason is not None, reason=reason
    )


# --- daylight saving --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "now_utc", "local", "offset_hours", "utc"),
    [
        # New York springs forward on Sunday 2026-03-08.
        ("America/New_York", "2026-03-06 01:00", "2026-03-06 08:00", -5, "2026-03-06 13:00"),
        ("America/New_York", "2026-03-07 00:30", "2026-03-09 08:00", -4, "2026-03-09 12:00"),
        # ... and falls back on Sunday 2026-11-01.
        ("America/New_York", "2026-10-30 00:00", "2026-10-30 08:00", -4, "2026-10-30 12:00"),
        ("America/New_York", "2026-10-30 23:30", "2026-11-02 08:00", -5, "2026-11-02 13:00"),
        # London springs forward on Sunday 2026-03-29 and falls back on Sunday 2026-10-25.
        ("Europe/London", "2026-03-26 20:00", "2026-03-27 08:00", 0, "2026-03-27 08:00"),
        ("Europe/London", "2026-03-27 19:30", "2026-03-30 08:00", 1, "2026-03-30 07:00"),
        ("Europe/London", "2026-10-22 19:00", "2026-10-23 08:00", 1, "2026-10-23 07:00"),
        ("Europe/London", "2026-10-23 18:30", "2026-10-26 08:00", 0, "2026-10-26 08:00"),
    ],
)
def test_deferred_0800_has_the_right_offset_across_dst(
    zone: str, now_utc: str, local: str, offset_hours: int, utc: str
) -> None:
    plan = plan_delivery(at(ZoneInfo("UTC"), now_utc), BusinessCalendar(zone))
    assert plan.deferred
    assert plan.send_at.replace(tzinfo=None) == datetime.fromisoformat(local)
    assert plan.send_at.utcoffset() == timedelta(hours=offset_hours)
    assert plan.send_at.astimezone(UTC) == at(ZoneInfo("UTC"), utc)


@pytest.mark.parametrize(
    ("now", "utc", "offset_hours"),
    [
        ("2026-03-07 20:00", "2026-03-08 12:00", -4),  # Saturday evening to 08:00 on the change day
        ("2026-10-31 20:00", "2026-11-01 13:00", -5),
    ],
)
def test_open_weekend_on_the_dst_day(now: str, utc: str, offset_hours: int) -> None:
    calendar = BusinessCalendar("America/New_York", weekend=())
    send_at = calendar.next_business_minute(at(NY, now))
    assert send_at.utcoffset() == timedelta(hours=offset_hours)
    assert send_at.astimezone(UTC) == at(ZoneInfo("UTC"), utc)


@pytest.mark.parametrize(
    ("zone", "quiet", "now", "local", "utc"),
    [
        # 02:30 does not exist in New York on 2026-03-08 (02:00 EST jumps to 03:00 EDT).
        ("America/New_York", "00:00-02:30", "2026-03-08 01:00", "2026-03-08 03:00", "2026-03-08 07:00"),
        ("America/New_York", "00:00-02:00", "2026-03-08 01:00", "2026-03-08 03:00", "2026-03-08 07:00"),
        # 01:30 does not exist in London on 2026-03-29 (01:00 GMT jumps to 02:00 BST).
        ("Europe/London", "23:00-01:30", "2026-03-28 23:30", "2026-03-29 02:00", "2026-03-29 01:00"),
    ],
)
def test_quiet_end_in_spring_forward_gap_moves_to_first_real_minute(
    zone: str, quiet: str, now: str, local: str, utc: str
) -> None:
    tz = ZoneInfo(zone)
    calendar = BusinessCalendar(zone, quiet_hours=parse_quiet_hours(quiet), weekend=())
    send_at = calendar.next_business_minute(at(tz, now))
    assert send_at.replace(tzinfo=None) == datetime.fromisoformat(local)
    assert send_at.astimezone(UTC) == at(ZoneInfo("UTC"), utc)
    assert calendar.is_business_time(send_at)


@pytest.mark.parametrize(
    ("now_utc", "send_at_utc", "offset_hours"),
    [
        ("2026-11-01 04:15", "2026-11-01 05:30", -4),  # 00:15 EDT: the first 01:30 (EDT)
        ("2026-11-01 06:15", "2026-11-01 06:30", -5),  # second 01:15 (EST): the first 01:30 is past
    ],
)
def test_quiet_end_in_fall_back_hour(now_utc: str, send_at_utc: str, offset_hours: int) -> None:
    # 01:00-02:00 happens twice in New York on 2026-11-01.
    calendar = BusinessCalendar("America/New_York", quiet_hours=parse_quiet_hours("00:00-01:30"), weekend=())
    send_at = calendar.next_business_minute(at(ZoneInfo("UTC"), now_utc))
    assert send_at.replace(tzinfo=None) == datetime(2026, 11, 1, 1, 30)
    assert send_at.utcoffset() == timedelta(hours=offset_hours)
    assert send_at.astimezone(UTC) == at(ZoneInfo("UTC"), send_at_utc)


# --- the deadline exception -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "deadline", "expected"),
    [
        # Friday evening: the deferred message would arrive Monday 2026-06-08.
        (
            "2026-06-05 19:30",
            date(2026, 6, 8),
            DeliveryPlan(
                at(NY, "2026-06-05 19:30"),
                deferred=False,
                reason=f"sent during quiet hours because the deadline 2026-06-08 is {ON_OR_BEFORE}",
            ),
        ),
        (
            "2026-06-05 19:30",
            date(2026, 6, 6),
            DeliveryPlan(
                at(NY, "2026-06-05 19:30"),
                deferred=False,
                reason=f"sent during quiet hours because the deadline 2026-06-06 is {ON_OR_BEFORE}",
            ),
        ),
        (
            "2026-06-05 19:30",
            date(2026, 6, 9),
            DeliveryPlan(at(NY, "2026-06-08 08:00"), deferred=True, reason="quiet hours"),
        ),
        (
            "2026-06-06 11:00",
            date(2026, 6, 7),
            DeliveryPlan(
                at(NY, "2026-06-06 11:00"),
                deferred=False,
                reason=f"sent on Saturday because the deadline 2026-06-07 is {ON_OR_BEFORE}",
            ),
        ),
        (
            "2026-06-03 11:00",  # closed day
            date(2026, 6, 4),
            DeliveryPlan(
                at(NY, "2026-06-03 11:00"),
                deferred=False,
                reason=f"sent on a closed day because the deadline 2026-06-04 is {ON_OR_BEFORE}",
            ),
        ),
        (
            "2026-06-02 11:00",  # business time: a passed deadline changes nothing
            date(2026, 5, 1),
            DeliveryPlan(at(NY, "2026-06-02 11:00"), deferred=False, reason=None),
        ),
    ],
)
def test_deadline_sends_now_rather_than_arrive_too_late(
    now: str, deadline: date, expected: DeliveryPlan
) -> None:
    calendar = BusinessCalendar("America/New_York", closed=[date(2026, 6, 3)])
    plan = plan_delivery(at(NY, now), calendar, deadline=deadline)
    assert plan == expected
    assert plan.send_at.tzinfo == NY


def test_deadline_exception_uses_calendar_dates_for_utc_input() -> None:
    # Friday 2026-06-05 23:30 UTC is 19:30 in New York; the next business day there is Monday 2026-06-08.
    now = datetime(2026, 6, 5, 23, 30, tzinfo=UTC)
    calendar = BusinessCalendar("America/New_York")
    assert not plan_delivery(now, calendar, deadline=date(2026, 6, 8)).deferred
    deferred = plan_delivery(now, calendar, deadline=date(2026, 6, 9))
    assert deferred.send_at == at(NY, "2026-06-08 08:00")
    assert deferred.send_at.tzinfo == NY


def test_the_holiday_regions_file_is_the_installed_packages_list() -> None:
    """opskit/holiday_regions.json lets settings be checked without loading `holidays` (a click pays
    for the settings check). After upgrading the package, write it again with:

    uv run python -c "import json, holidays; d = holidays.list_supported_countries(); \\
    print(json.dumps({'holidays_version': holidays.__version__, 'regions': dict(sorted(d.items()))}, \\
    separators=(',', ':'), ensure_ascii=False))" > layers/shared/opskit/holiday_regions.json
    """
    import json

    from opskit.business_time import HOLIDAY_REGIONS_FILE, supported_holiday_regions

    written = json.loads(HOLIDAY_REGIONS_FILE.read_text(encoding="utf-8"))
    assert written["holidays_version"] == holidays.__version__
    assert supported_holiday_regions() == holidays.list_supported_countries()


def test_checking_a_holiday_region_does_not_load_the_holidays_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from opskit.business_time import BusinessCalendar, parse_holiday_region; "
        "assert parse_holiday_region('gb-eng') == ('GB', 'ENG'); "
        "BusinessCalendar('Europe/London', country='GB', subdivision='ENG'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'holidays'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
