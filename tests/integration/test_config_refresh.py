"""Settings and secrets re-read through the cache (issue 7, defect 4), through the real handlers on the
local cloud: a rotated signing secret takes effect within opskit.config.MAX_AGE_SECONDS without a
redeploy, a failed Secrets Manager read does not switch Slack off for good, and an edited setting is
seen after the interval."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from alerts import alert
from botocore.exceptions import ClientError

from ew import runtime
from ew_local.cloud import SIGNING_SECRET, LocalCloud
from ew_local.slack_payloads import button_click
from opskit.config import MAX_AGE_SECONDS

EVENTS = Path(__file__).resolve().parents[2] / "events"
SHEET = (
    "item_id,item,category,expiry_date,owner,owner_email,renewal_term,last_renewed\n"
    "ACME-002,Public liability insurance,insurance,2026-12-15,U04FIN0001,li@acme.example,1 year,2025-12-15\n"
)


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud({"timezone": "Europe/London"}) as local:
        local.mirror(SHEET.encode())
        yield local


def test_a_rotated_signing_secret_takes_effect_within_the_interval(
    cloud: LocalCloud, powertools_clock: Any
) -> None:
    message = alert(cloud)
    assert cloud.slack_click(button_click(message, "renew", "U04FIN0001"))["statusCode"] == 200
    boto3.client("secretsmanager").put_secret_value(
        SecretId="ew/slack/signing-secret", SecretString="rotated-signing-secret"
    )
    click = button_click(message, "ack_only", "U04FIN0001")
    # Until the cached copy is older than the interval, only the old secret verifies...
    assert cloud.slack_click(click, secret="rotated-signing-secret")["statusCode"] == 401
    powertools_clock.advance(MAX_AGE_SECONDS + 1)
    # ...then the new one does, and the old one is refused: no redeploy, no cold start.
    assert cloud.slack_click(click, secret=SIGNING_SECRET)["statusCode"] == 401
    assert cloud.slack_click(click, secret="rotated-signing-secret")["statusCode"] == 200
    assert [a.action for a in cloud.store.load()[1]] == ["ack_only"]


def test_a_failed_bot_token_read_does_not_leave_slack_off(cloud: LocalCloud, powertools_clock: Any) -> None:
    message = alert(cloud)
    powertools_clock.advance(MAX_AGE_SECONDS + 1)  # the cached token is due for a re-read
    secrets = runtime.client("secretsmanager")
    failures = [1]

    def fail_once(params: dict[str, Any], **_: Any) -> None:
        if params.get("SecretId") == "ew/slack/bot-token" and failures[0]:
            failures[0] -= 1
            raise ClientError({"Error": {"Code": "InternalServiceError"}}, "GetSecretValue")

    secrets.meta.events.register("before-parameter-build.secrets-manager.GetSecretValue", fail_once)
    try:
        cloud.slack_click(button_click(message, "ack_only", "U04FIN0001"))
        # The answer is recorded, but Slack was off for that request: the card could not be updated.
        assert [a.action for a in cloud.store.load()[1]] == ["ack_only"]
        assert cloud.slack.calls("chat.update") == []
        # The failure was not remembered: the next request reads the token again and Slack is back.
        cloud.slack_click(button_click(message, "ack_only", "U04OTHER01"))
    finally:
        secrets.meta.events.unregister("before-parameter-build.secrets-manager.GetSecretValue", fail_once)
    assert len(cloud.slack.calls("chat.update")) == 1
    current = cloud.slack.message(message["channel"], message["ts"])
    assert current is not None and "Acknowledged by <@U04FIN0001>" in current["text"]


def test_an_edited_setting_is_seen_after_the_interval(cloud: LocalCloud, powertools_clock: Any) -> None:
    assert runtime.settings().timezone == "Europe/London"
    boto3.client("ssm").put_parameter(
        Name="/ew/config/timezone", Value="America/New_York", Type="String", Overwrite=True
    )
    assert runtime.settings().timezone == "Europe/London"  # cached, as promised, for the interval
    powertools_clock.advance(MAX_AGE_SECONDS + 1)
    assert runtime.settings().timezone == "America/New_York"
