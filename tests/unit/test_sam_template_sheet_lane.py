"""template.yaml, the sheet lane: drive-sync and calendar-sync as a reviewer would check them by eye
(own roles with exact ARNs, alarms). The checks every function gets (its settings, schedule, DLQ,
environment, log group, role per function, alarms on every queue) are in test_sam_template.py."""

from __future__ import annotations

from typing import Any

import pytest
from test_sam_template import (
    _as_list,
    _getatt,
    _props,
    _resources,
    _role_statements,
)

SECRET = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}"
SENDER_IDENTITY = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderDomain}"
SYNCS = ["DriveSyncFunction", "CalendarSyncFunction"]


def _table(name: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [name, "Arn"]}


def _actions_on(role: str, resource: Any, prefix: str) -> set[str]:
    return {
        action
        for s in _role_statements(role)
        if resource in _as_list(s["Resource"])
        for action in _as_list(s["Action"])
        if action.startswith(prefix)
    }


def _role_of(function: str) -> str:
    return _getatt(_props(function)["Role"])


@pytest.mark.parametrize("function", SYNCS)
def test_lasting_failures_alarm_but_one_bad_minute_at_google_does_not(function: str) -> None:
    (alarm,) = [
        a["Properties"]
        for a in _resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "Errors"
        and a["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
    ]
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3600, 3, 3)


def test_drive_sync_may_write_the_mirrored_documents_and_nothing_else() -> None:
    role = _role_of("DriveSyncFunction")
    s3 = [s for s in _role_statements(role) if any(a.startswith("s3:") for a in _as_list(s["Action"]))]
    objects = {
        r["Fn::Sub"] for s in s3 if "s3:PutObject" in _as_list(s["Action"]) for r in _as_list(s["Resource"])
    }
    assert objects == {
        "${RegistrySourceBucket.Arn}/registry.csv",
        "${RegistrySourceBucket.Arn}/problems.json",
        "${RulesSourceBucket.Arn}/rules.txt",
        "${RulesSourceBucket.Arn}/voice.txt",
    }
    for statement in s3:
        actions = set(_as_list(statement["Action"]))
        assert actions in ({"s3:GetObject", "s3:PutObject"}, {"s3:ListBucket"}), statement
        if actions == {"s3:ListBucket"}:
            assert statement["Resource"] == [_table("RegistrySourceBucket"), _table("RulesSourceBucket")]

    assert _actions_on(role, _table("StateTable"), "dynamodb:") == {
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query",
        "dynamodb:UpdateItem",  # opskit.message_versions: the version a card it updates shows
    }  # fmt: skip
    assert _actions_on(role, _table("PingsTable"), "dynamodb:") == {
        "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"
    }  # fmt: skip
    assert _actions_on(role, _table("PingsArchiveTable"), "dynamodb:") == {"dynamodb:BatchWriteItem"}
    assert _actions_on(role, _table("AuditTable"), "dynamodb:") == {"dynamodb:PutItem"}
    assert _actions_on(role, _table("AckTable"), "dynamodb:") == set()
    assert not any(
        a == "dynamodb:Scan" or a.split(":")[0] in {"events", "scheduler", "lambda", "iam"}
        for s in _role_statements(role)
        for a in _as_list(s["Action"])
    )


@pytest.mark.parametrize("function", SYNCS)
def test_the_sync_functions_read_the_service_account_and_the_slack_token_only(function: str) -> None:
    role = _role_of(function)
    secrets = sorted(
        r["Fn::Sub"]
        for s in _role_statements(role)
        if s["Action"] == "secretsmanager:GetSecretValue"
        for r in s["Resource"]
    )
    assert secrets == [f"{SECRET}/drive/sa-??????", f"{SECRET}/slack/bot-token-??????"]
    # The admin's fallback email: as the configured sender, never any identity.
    ses = [s["Resource"] for s in _role_statements(role) if "ses:SendRawEmail" in _as_list(s["Action"])]
    assert ses == [{"Fn::Sub": SENDER_IDENTITY}]


def test_calendar_sync_touches_the_state_table_and_nothing_else_of_ours() -> None:
    role = _role_of("CalendarSyncFunction")
    assert _actions_on(role, _table("StateTable"), "dynamodb:") == {
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query",
        "dynamodb:UpdateItem",  # opskit.message_versions: the version a card it updates shows
    }  # fmt: skip
    services = {a.split(":")[0] for s in _role_statements(role) for a in _as_list(s["Action"])}
    assert services == {"logs", "dynamodb", "secretsmanager", "ses", "ssm", "sqs"}
