import json
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from opskit.schedule import at_expression, schedule_name, schedule_once

NY = "America/New_York"
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:dispatch"
ROLE = "arn:aws:iam::123456789012:role/scheduler-invoke"
DLQ = "arn:aws:sqs:us-east-1:123456789012:dispatch-dlq"
VALID_NAME = re.compile(r"[0-9a-zA-Z_.-]{1,64}")


@pytest.fixture
def scheduler(moto_aws):
    yield boto3.client("scheduler")


def _once(client, name, at, **kwargs):
    return schedule_once(
        client, name, at, NY, TARGET, ROLE, {"item": "A1", "day": date(2026, 3, 9)}, **kwargs
    )


def test_created_schedule_runs_once_at_local_wall_time_and_deletes_itself(scheduler):
    assert _once(scheduler, "defer-A1", datetime(2026, 6, 1, 8, 0, tzinfo=ZoneInfo(NY)), dlq_arn=DLQ) is True

    schedule = scheduler.get_schedule(Name="defer-A1")
    assert schedule["ScheduleExpression"] == "at(2026-06-01T08:00:00)"
    assert schedule["ScheduleExpressionTimezone"] == NY
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == TARGET and target["RoleArn"] == ROLE
    assert json.loads(target["Input"]) == {"item": "A1", "day": "2026-03-09"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["DeadLetterConfig"] == {"Arn": DLQ}


def test_utc_instants_are_written_in_the_wall_time_of_the_timezone_across_dst(scheduler):
    # New York moves to daylight time on 2026-03-08: 08:00 local is 13:00 UTC before and 12:00 UTC after.
    assert _once(scheduler, "before-dst", datetime(2026, 3, 6, 13, 0, tzinfo=UTC))
    assert _once(scheduler, "after-dst", datetime(2026, 3, 9, 12, 0, tzinfo=UTC))

    assert scheduler.get_schedule(Name="before-dst")["ScheduleExpression"] == "at(2026-03-06T08:00:00)"
    assert scheduler.get_schedule(Name="after-dst")["ScheduleExpression"] == "at(2026-03-09T08:00:00)"


def test_local_08_00_stays_08_00_on_the_day_after_the_change():
    at = datetime(2026, 11, 2, 8, 0, tzinfo=ZoneInfo(NY))  # first day back on standard time
    assert at_expression(at, NY) == "at(2026-11-02T08:00:00)"
    assert at_expression(at, "Europe/London") == "at(2026-11-02T13:00:00)"


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        at_expression(datetime(2026, 6, 1, 8, 0), NY)


def test_a_second_schedule_with_the_same_name_returns_false(scheduler):
    at = datetime(2026, 6, 1, 8, 0, tzinfo=ZoneInfo(NY))
    assert _once(scheduler, "defer-A1", at) is True
    assert _once(scheduler, "defer-A1", datetime(2026, 6, 2, 8, 0, tzinfo=ZoneInfo(NY))) is False
    # the first one is untouched
    assert scheduler.get_schedule(Name="defer-A1")["ScheduleExpression"] == "at(2026-06-01T08:00:00)"


def test_other_errors_propagate(scheduler):
    with Stubber(scheduler) as stub, pytest.raises(ClientError, match="ValidationException"):
        stub.add_client_error("create_schedule", service_error_code="ValidationException")
        _once(scheduler, "defer-A1", datetime(2026, 6, 1, 8, 0, tzinfo=ZoneInfo(NY)))


def test_a_valid_name_is_kept_as_is():
    assert schedule_name("defer", "A1", "2026-06-01") == "defer-A1-2026-06-01"


def test_a_bad_name_is_sanitised_deterministically_and_stays_distinct():
    name = schedule_name("defer", "Lease #4/B", "2026-06-01T08:00")
    assert VALID_NAME.fullmatch(name)
    assert name.startswith("defer-Lease-4-B-2026-06-01T08-00-")
    assert schedule_name("defer", "Lease #4/B", "2026-06-01T08:00") == name
    # Both sanitise to the same text: the hash keeps them apart.
    assert schedule_name("defer", "Lease 4/B") != schedule_name("defer", "Lease 4 B")


def test_a_long_name_is_cut_and_hashed():
    long_id = "x" * 100
    name = schedule_name("defer", long_id, "1")
    assert VALID_NAME.fullmatch(name) and len(name) == 64
    assert name != schedule_name("defer", long_id, "2")


def test_a_sanitised_name_is_accepted_by_the_service(scheduler):
    name = schedule_name("defer", "Ünïcode item / #7", "y" * 80)
    assert _once(scheduler, name, datetime(2026, 6, 1, 8, 0, tzinfo=ZoneInfo(NY))) is True
    assert scheduler.get_schedule(Name=name)["Name"] == name


def test_an_empty_name_is_refused():
    with pytest.raises(ValueError):
        schedule_name()
    with pytest.raises(ValueError):
        schedule_name("")
