"""A Slack click is dated in the timezone its ping was sent under, kept on the ping row, so answering
it needs nothing from Parameter Store: it works while the settings cannot be read, and a cold
container answers without building a Parameter Store client (the cold-start budget, issue 13)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from alerts import alert as first_alert
from botocore.exceptions import ClientError

from ew import runtime
from ew_local.cloud import LocalCloud
from ew_local.slack_payloads import button_click, modal_submission

SHEET = (
    "item_id,item,category,expiry_date,owner,owner_email,renewal_term,last_renewed\n"
    "ACME-002,Public liability insurance,insurance,2026-12-15,U04FIN0001,li@acme.example,1 year,2025-12-15\n"
)
# 21:30 UTC on 2 Dec is 10:30 on 3 Dec in Auckland (NZDT, +13): the two days differ.
MOMENT = datetime(2026, 12, 2, 21, 30, tzinfo=UTC)


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud({"timezone": "Pacific/Auckland"}) as local:
        local.mirror(SHEET.encode())
        yield local


def alert(cloud: LocalCloud) -> dict[str, Any]:
    """The first alert for ACME-002, decided at 21:00 UTC (10:00 in Auckland, outside quiet hours)."""
    return first_alert(cloud, decided_at="2026-12-02T21:00:00+00:00")


def settings_unreadable() -> None:
    """Parameter Store refuses every read from now on, in a fresh (cold) container."""
    runtime.reset()
    ssm = runtime.client("ssm")

    def refuse(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "InternalServerError", "Message": "down"}}, "GetParametersByPath"
        )

    ssm.meta.events.register("before-call.ssm.*", refuse)


def test_the_ping_row_keeps_the_timezone_it_was_sent_under(cloud: LocalCloud) -> None:
    with cloud.at(MOMENT):
        alert(cloud)
    record = cloud.store.get("ACME-002", 0)
    assert record is not None and record.timezone == "Pacific/Auckland"


def test_ack_only_is_dated_in_the_pings_timezone_without_reading_the_settings(cloud: LocalCloud) -> None:
    with cloud.at(MOMENT):
        message = alert(cloud)
        settings_unreadable()
        answer = cloud.slack_click(button_click(message, "ack_only", "U04FIN0001"))
    assert answer["statusCode"] == 200
    updated = cloud.slack.message(message["channel"], message["ts"])
    assert updated is not None
    assert updated["text"] == ":ok_hand: Acknowledged by <@U04FIN0001> on 3 Dec 2026."
    assert [a.action for a in cloud.store.load()[1]] == ["ack_only"]


def test_a_snooze_modal_checks_its_date_against_the_pings_day(cloud: LocalCloud) -> None:
    with cloud.at(MOMENT):
        message = alert(cloud)
        settings_unreadable()
        cloud.slack_click(button_click(message, "snooze", "U04FIN0001"))
        [opened] = cloud.slack.calls("views.open")
        view = opened.params["view"]
        # 3 Dec is a day ahead in UTC or London, but already today in Auckland: refused, said in its day.
        refused = cloud.slack_click(modal_submission(view, "2026-12-03", "U04FIN0001"))
        assert json.loads(refused["body"]) == {
            "response_action": "errors",
            "errors": {"date": "The snooze date must be after today (3 Dec 2026)."},
        }
        assert cloud.store.load()[1] == []
        assert cloud.slack_click(modal_submission(view, "2026-12-04", "U04FIN0001"))["statusCode"] == 200
    [ack] = cloud.store.load()[1]
    assert (ack.action, str(ack.snooze_until)) == ("snooze", "2026-12-04")


def test_a_ping_row_from_before_the_timezone_was_kept_uses_the_settings(cloud: LocalCloud) -> None:
    with cloud.at(MOMENT):
        message = alert(cloud)
        boto3.client("dynamodb").update_item(
            TableName="ew-pings",
            Key={"item_id": {"S": "ACME-002"}, "chain_index": {"N": "0"}},
            UpdateExpression="REMOVE tz",
        )
        runtime.reset()
        assert cloud.slack_click(button_click(message, "ack_only", "U04FIN0001"))["statusCode"] == 200
    updated = cloud.slack.message(message["channel"], message["ts"])
    assert updated is not None and updated["text"].endswith("on 3 Dec 2026.")
