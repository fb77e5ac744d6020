"""template.yaml for the digest and summary functions, the heartbeat and throttle alarms and the
operator dashboard: what a reviewer would check by eye, checked on every run."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from test_sam_template import (
    BOOTSTRAP,
    ROOT,
    _decoded,
    _grants,
    _props,
    _resources,
    _role_statements,
    _template,
)

from ew import monthly_summary, weekly_digest

TOPIC = [{"Ref": "CostAlarmTopic"}]
PROFILE = (
    "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/"
    "global.anthropic.claude-haiku-4-5-20251001-v1:0"
)


def _alarm(metric: str, dimension: Any = None) -> dict[str, Any]:
    [alarm] = [
        a["Properties"]
        for a in _resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == metric
        and (dimension is None or a["Properties"]["Dimensions"][0]["Value"] == dimension)
    ]
    return alarm


# -- the heartbeat --------------------------------------------------------------------------------


def test_the_heartbeat_fires_when_no_tick_completed_for_more_than_a_day():
    alarm = _alarm("TickCompleted")
    service = _template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    namespace = _template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    # The metric daily-tick emits through Powertools: its namespace and its service dimension.
    assert (alarm["Namespace"], alarm["Dimensions"]) == (namespace, [{"Name": "service", "Value": service}])
    assert alarm["Statistic"] == "Sum"
    # Fewer than 1 completed tick in every one of 26 consecutive hours: more than a day, with room for
    # the 25-hour night when the clocks go back.
    assert alarm["Period"] == 3600
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 26
    assert 86400 < alarm["Period"] * alarm["EvaluationPeriods"] <= 2 * 86400
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    # No data at all (the tick never ran) is exactly what must alarm.
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == TOPIC and alarm["OKActions"] == TOPIC


def test_ack_handler_throttles_alarm_on_the_alarm_topic():
    throttles = _alarm("Throttles", {"Ref": "AckHandlerFunction"})
    assert (throttles["Namespace"], throttles["Statistic"], throttles["Threshold"]) == (
        "AWS/Lambda",
        "Sum",
        0,
    )
    assert throttles["ComparisonOperator"] == "GreaterThanThreshold" and throttles["AlarmActions"] == TOPIC
    # Dispatch failures (any error, any alert parked in its DLQ) alarm as every function's and every
    # queue's do: test_sam_template.py.


# -- digest and summary ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "lease"),
    [("DigestFunction", weekly_digest.LEASE), ("SummaryFunction", monthly_summary.LEASE)],
)
def test_the_send_once_claim_outlives_a_run_and_has_passed_when_lambda_retries(function, lease):
    # The send-once claim outlives any run (a live run's duplicate sends nothing) and has passed when
    # Lambda retries a crashed run, about a minute after it failed. (The functions' settings, schedules,
    # DLQs and environment are checked with every function's in test_sam_template.py.)
    timeout = _props(function)["Timeout"]
    assert timeout < lease.total_seconds() < timeout + 60


SCANNED = [{"Fn::GetAtt": [t, "Arn"]} for t in ("PingsTable", "PingsArchiveTable", "AckTable")]
STATE = [{"Fn::GetAtt": ["StateTable", "Arn"]}]
SENDER = [{"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderDomain}"}]


def test_the_digest_role_is_exact():
    grants = _grants("DigestRole")
    assert grants["dynamodb:Scan"] == SCANNED  # the week is read with Scans, open and archived chains
    assert grants["dynamodb:PutItem"] == grants["dynamodb:GetItem"] == grants["dynamodb:DeleteItem"] == STATE
    assert grants["s3:GetObject"] == [
        {"Fn::Sub": "${RegistrySourceBucket.Arn}/registry.csv"},
        {"Fn::Sub": "${RulesSourceBucket.Arn}/voice.txt"},
    ]
    assert grants["secretsmanager:GetSecretValue"] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}/slack/bot-token-??????"
        }
    ]
    assert grants["ses:SendRawEmail"] == SENDER
    assert set(grants) == {
        "logs:CreateLogStream", "logs:PutLogEvents", "dynamodb:Scan", "dynamodb:PutItem", "dynamodb:GetItem",
        "dynamodb:DeleteItem", "s3:GetObject", "s3:ListBucket", "secretsmanager:GetSecretValue",
        "ses:SendRawEmail", "ssm:GetParametersByPath", "sqs:SendMessage",
    }  # fmt: skip


def test_the_summary_role_is_exact_and_may_invoke_haiku_only_through_the_global_profile():
    grants = _grants("SummaryRole")
    # and the audit trail, where drive-sync records the renewals typed into the sheet
    assert grants["dynamodb:Scan"] == [*SCANNED, {"Fn::GetAtt": ["AuditTable", "Arn"]}]
    assert grants["dynamodb:PutItem"] == grants["dynamodb:GetItem"] == grants["dynamodb:DeleteItem"] == STATE
    assert grants["s3:GetObject"] == [{"Fn::Sub": "${RegistrySourceBucket.Arn}/registry.csv"}]
    assert grants["ses:SendRawEmail"] == SENDER
    assert "secretsmanager:GetSecretValue" not in grants
    invoke = {s["Sid"]: s for s in _role_statements("SummaryRole") if s["Action"] == "bedrock:InvokeModel"}
    model = "anthropic.claude-haiku-4-5-20251001-v1:0"
    assert invoke["InvokeHaikuProfile"]["Resource"] == {"Fn::Sub": PROFILE}
    assert "Condition" not in invoke["InvokeHaikuProfile"]
    regional = invoke["InvokeHaikuInThisRegion"]
    assert regional["Resource"] == {
        "Fn::Sub": f"arn:${{AWS::Partition}}:bedrock:${{AWS::Region}}::foundation-model/{model}"
    }
    assert regional["Condition"] == {"StringEquals": {"bedrock:InferenceProfileArn": {"Fn::Sub": PROFILE}}}
    routed = invoke["InvokeHaikuGlobally"]
    assert routed["Resource"] == {"Fn::Sub": f"arn:${{AWS::Partition}}:bedrock:::foundation-model/{model}"}
    assert routed["Condition"] == {
        "StringEquals": {
            "aws:RequestedRegion": "unspecified",
            "bedrock:InferenceProfileArn": {"Fn::Sub": PROFILE},
        }
    }
    assert len(invoke) == 3
    # The model the code asks for is the one the role may invoke.
    env = _props("SummaryFunction")["Environment"]["Variables"]
    assert env["EW_SUMMARY_MODEL_ID"] == monthly_summary.MODEL_ID == PROFILE.rsplit("/", 1)[1]


# -- the dashboard --------------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    [dashboard] = _resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    # ${AWS::Region}, ${DispatchFunction}, ${DigestDLQ.QueueName}...: any string keeps it JSON
    parsed: dict[str, Any] = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    return parsed


def _emitted_metrics() -> list[str]:
    """Metric names the handlers emit (an f-string name like Moves_{move} counts as its prefix)."""
    names = []
    for app in (ROOT / "src").glob("*/app.py"):
        names += re.findall(r'add_metric\(name=f?"([A-Za-z_]+)', app.read_text())
    return names


def test_the_dashboard_shows_what_an_operator_looks_at():
    widgets = {w["properties"]["title"]: w["properties"]["metrics"] for w in _dashboard()["widgets"]}
    assert set(widgets) == {
        "Daily ticks completed (heartbeat)",
        "Moves decided by the tick",
        "Pings delivered by channel",
        "Send failures and fallbacks",
        "Dead-letter queues (messages waiting)",
        "Clicks: ack-handler errors, throttles, refused signatures",
    }
    emitted = _emitted_metrics()
    for title, metrics in widgets.items():
        for metric in metrics:
            namespace, name = metric[0], metric[1]
            if namespace == "ExpiryWatcher":
                assert metric[2:4] == ["service", "expiry-watcher"], (title, name)
                assert any(name.startswith(e) for e in emitted), f"{title}: no handler emits {name}"
    body = _resources("AWS::CloudWatch::Dashboard")["OperatorDashboard"]["Properties"]["DashboardBody"][
        "Fn::Sub"
    ]
    for queue in _resources("AWS::SQS::Queue"):
        assert f"${{{queue}.QueueName}}" in body, f"the DLQ widget misses {queue}"
    for name in (
        "TickCompleted",
        "SlackVerificationFailures",
        "SummaryFallback",
        "DigestFallbackToEmail",
        "Sent_",
    ):
        assert name in emitted


def test_the_deploy_role_may_manage_the_dashboard_by_name():
    [dashboard] = _resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == {"Fn::Sub": "${Prefix}-operations"}
    role = _decoded(BOOTSTRAP)["Resources"]["DeployRole"]["Properties"]
    [statement] = [
        s
        for p in role["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        if "cloudwatch:PutDashboard" in s["Action"]
    ]
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch::${AWS::AccountId}:dashboard/${Prefix}-*"
    }
