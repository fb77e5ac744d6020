"""template.yaml, the sheet lane: drive-sync and calendar-sync as a reviewer would check them by eye
(own roles with exact ARNs, schedules in the configured timezone, DLQs and alarms). The checks every
function gets (log group, role per function, alarms on every queue) are in test_sam_template.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_sam_template import (
    _allows,
    _as_list,
    _env_read_by_handler,
    _function_env,
    _getatt,
    _props,
    _resources,
    _role_statements,
    _statements,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}"
SENDER_IDENTITY = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderDomain}"
FUNCTIONS = [
    # logical ID, name, code, memory, timeout, schedule
    ("DriveSyncFunction", "drive-sync", "src/drive_sync/", 1024, 120, "rate(15 minutes)"),
    ("CalendarSyncFunction", "calendar-sync", "src/calendar_sync/", 256, 60, "rate(1 hour)"),
]


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


@pytest.mark.parametrize(("function", "name", "code", "memory", "timeout", "rate"), FUNCTIONS)
def test_the_function_runs_its_handler_on_a_schedule_in_the_configured_timezone(
    function: str, name: str, code: str, memory: int, timeout: int, rate: str
) -> None:
    props = _props(function)
    assert props["FunctionName"] == {"Fn::Sub": f"${{Prefix}}-{name}"}
    assert (props["CodeUri"], props["Handler"]) == (code, "app.handler")
    assert (ROOT / code / "app.py").is_file()
    assert (props["MemorySize"], props["Timeout"]) == (memory, timeout)

    (schedule,) = [
        s["Properties"]
        for s in _resources("AWS::Scheduler::Schedule").values()
        if s["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    ]
    assert schedule["ScheduleExpression"] == rate
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "TimeZone"}
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert json.loads(target["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    invoker = _getatt(target["RoleArn"])
    (trust,) = _statements(_props(invoker)["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    dlq = _getatt(target["DeadLetterConfig"]["Arn"])
    assert _allows(invoker, "lambda:InvokeFunction", {"Fn::GetAtt": [function, "Arn"]})
    assert _allows(invoker, "sqs:SendMessage", {"Fn::GetAtt": [dlq, "Arn"]})
    assert len(_role_statements(invoker)) == 2

    # A failed run ends in the same DLQ (Lambda sends with the function's role), which has an alarm.
    on_failure = props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": [dlq, "Arn"]}}
    assert _allows(_role_of(function), "sqs:SendMessage", {"Fn::GetAtt": [dlq, "Arn"]})


@pytest.mark.parametrize("function", [f[0] for f in FUNCTIONS])
def test_lasting_failures_alarm_but_one_bad_minute_at_google_does_not(function: str) -> None:
    (alarm,) = [
        a["Properties"]
        for a in _resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "Errors"
        and a["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
    ]
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3600, 3, 3)
    assert alarm["AlarmActions"] == [{"Ref": "CostAlarmTopic"}]


@pytest.mark.parametrize(
    ("function", "app"), [("DriveSyncFunction", "drive_sync"), ("CalendarSyncFunction", "calendar_sync")]
)
def test_every_environment_variable_the_handler_reads_is_set(function: str, app: str) -> None:
    wanted = _env_read_by_handler(ROOT / "src" / app / "app.py")
    assert {"EW_DRIVE_SA_SECRET", "EW_STATE_TABLE"} <= wanted
    assert wanted <= set(_function_env(function)), sorted(wanted - set(_function_env(function)))


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


@pytest.mark.parametrize("function", [f[0] for f in FUNCTIONS])
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
