"""The SAM template (template.yaml), the deploy files (bootstrap template, deploy workflow, Slack app
manifest) and the shared layer's pinned requirements."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from ew.daily_tick import event_source
from ew.store import heads_table_for

# With -n, one worker reads the templates with cfn-lint (seconds to import) and the other does not.
pytestmark = pytest.mark.xdist_group("cfn-lint")

# ---------------------------------------------------------------------------------------------------------
# The SAM template (template.yaml): what a reviewer checks by eye, checked on every run.
# ---------------------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BOOTSTRAP = ROOT / "deploy" / "github-oidc.yaml"
SES_RULES = ROOT / "ses-rules.yaml"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"  # CI, then the deploy job on main
SLACK_MANIFEST = ROOT / "slack-app-manifest.yaml"
RUNTIME = ROOT / "layers" / "shared" / "ew" / "runtime.py"
ACK_HANDLER_APP = ROOT / "src" / "ack_handler" / "app.py"
LAYER_REQUIREMENTS = ROOT / "layers" / "shared" / "requirements.txt"
LAYER_MAKEFILE = ROOT / "layers" / "shared" / "Makefile"
# The Lambda python3.13 runtime ships these: the layer must not (they are big, and would shadow it).
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer"}
MOVES = ["ew.escalate", "ew.first_alert", "ew.reminder"]


@cache
def _decoded(path: Path) -> dict[str, Any]:
    """A CloudFormation template with its tags decoded the way cfn-lint reads them (!Ref -> {"Ref": ...},
    !GetAtt A.B -> {"Fn::GetAtt": ["A", "B"]}, !Sub -> {"Fn::Sub": ...})."""
    from cfnlint.decode import decode  # cfn-lint takes seconds to import: only the worker running these

    template, problems = decode(str(path))
    assert not problems, [str(p) for p in problems]
    assert template is not None
    return template


def _lint(path: Path) -> list[Any]:
    from cfnlint.api import lint_file

    return list(lint_file(path))


def _template() -> dict[str, Any]:
    return _decoded(TEMPLATE)


def _resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in _template()["Resources"].items() if r["Type"] == kind}


def _props(name: str) -> dict[str, Any]:
    props: dict[str, Any] = _template()["Resources"][name].get("Properties", {})
    return props


def _getatt(value: Any, attribute: str = "Arn") -> str:
    """The logical ID in `!GetAtt X.<attribute>`."""
    assert isinstance(value, dict) and list(value) == ["Fn::GetAtt"], value
    target, attr = value["Fn::GetAtt"]
    assert attr == attribute, value
    return str(target)


def _ref(value: Any) -> str:
    assert isinstance(value, dict) and list(value) == ["Ref"], value
    return str(value["Ref"])


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(s) for s in _as_list(document["Statement"])]


def _policy_documents(node: Any) -> Iterator[dict[str, Any]]:
    """Every policy document anywhere in the template (role policies, bucket/queue/topic policies)."""
    if isinstance(node, dict):
        if "Statement" in node and "Version" in node:
            yield node
        for value in node.values():
            yield from _policy_documents(value)
    elif isinstance(node, list):
        for value in node:
            yield from _policy_documents(value)


def _role_statements(role: str) -> list[dict[str, Any]]:
    props = _props(role)
    assert "ManagedPolicyArns" not in props, f"{role}: managed policies are not least privilege"
    return [s for policy in props["Policies"] for s in _statements(policy["PolicyDocument"])]


def _allows(role: str, action: str, resource: Any) -> bool:
    return any(
        s["Effect"] == "Allow" and action in _as_list(s["Action"]) and resource in _as_list(s["Resource"])
        for s in _role_statements(role)
    )


def _grants(role: str) -> dict[str, list[Any]]:
    """action -> the resources the role's statements allow it on."""
    grants: dict[str, list[Any]] = {}
    for statement in _role_statements(role):
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            grants.setdefault(action, []).extend(_as_list(statement["Resource"]))
    return grants


def _function_env(name: str) -> dict[str, Any]:
    """Environment variables as SAM merges them: Globals, then the function's own."""
    env = dict(_template()["Globals"]["Function"].get("Environment", {}).get("Variables", {}))
    env.update(_props(name).get("Environment", {}).get("Variables", {}))
    return env


# template.yaml's lint (cfn-lint through `sam validate --lint`) is `make validate`, which CI runs: the suite
# does not repeat it. The two templates it does not cover are linted below.
def test_runtime_is_python313_on_arm64_everywhere():
    function_globals = _template()["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    for name in _resources("AWS::Serverless::Function"):
        assert "Runtime" not in _props(name) and "Architectures" not in _props(name), name
    layer = _template()["Resources"]["SharedLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


# Every function as the build sheet gives it, the one table the per-function checks below read:
# logical ID, its code (src/<app>/), its name after ${Prefix}-, memory (MB), timeout (s), Lambda's retries of a
# failed asynchronous invoke, the DLQ that invoke ends in, environment variables its handler must be
# seen to read (a check that the reader of the handler's code finds them).
FUNCTIONS = [
    ("DailyTickFunction", "daily_tick", "daily-tick", 1769, 60, 2, "DailyTickDLQ", set()),
    ("DispatchFunction", "dispatch", "dispatch", 1024, 30, 2, "DispatchDLQ", set()),
    # ack-handler's memory buys the CPU a cold click needs inside Slack's 3 s (template.yaml); what its
    # handler reads is checked in test_ack_handler_environment_has_what_its_runtime_reads.
    ("AckHandlerFunction", "ack_handler", "ack-handler", 1536, 15, 2, "AckHandlerDLQ", None),
    ("DigestFunction", "digest", "digest", 1024, 180, 2, "DigestDLQ",
     {"EW_PINGS_TABLE", "EW_ARCHIVE_TABLE", "EW_ACK_TABLE", "EW_REGISTRY_BUCKET"}),
    ("SummaryFunction", "summary", "summary", 1024, 240, 2, "SummaryDLQ",
     {"EW_PINGS_TABLE", "EW_ARCHIVE_TABLE", "EW_ACK_TABLE", "EW_REGISTRY_BUCKET"}),
    ("DriveSyncFunction", "drive_sync", "drive-sync", 1024, 120, 1, "DriveSyncDLQ",
     {"EW_DRIVE_SA_SECRET", "EW_STATE_TABLE"}),
    ("CalendarSyncFunction", "calendar_sync", "calendar-sync", 256, 60, 1, "CalendarSyncDLQ",
     {"EW_DRIVE_SA_SECRET", "EW_STATE_TABLE"}),
    ("IntakeParserFunction", "intake_parser", "intake-parser", 512, 60, 2, "IntakeParserDLQ",
     {"EW_SOURCE_BUCKET", "EW_STATE_TABLE"}),
]  # fmt: skip
FUNCTION_IDS = [f[0] for f in FUNCTIONS]


def test_the_table_names_every_function():
    assert sorted(FUNCTION_IDS) == sorted(_resources("AWS::Serverless::Function"))


@pytest.mark.parametrize(
    ("function", "app", "name", "memory", "timeout"), [f[:5] for f in FUNCTIONS], ids=FUNCTION_IDS
)
def test_functions_are_as_the_build_sheet_says(function, app, name, memory, timeout):
    props = _props(function)
    assert props["FunctionName"] == {"Fn::Sub": f"${{Prefix}}-{name}"}
    assert props["CodeUri"] == f"src/{app}/"
    assert props["Handler"] == "app.handler"
    assert (ROOT / "src" / app / "app.py").is_file()
    assert (props["MemorySize"], props["Timeout"]) == (memory, timeout)


def test_every_function_has_its_own_role_and_a_7_day_log_group():
    functions = _resources("AWS::Serverless::Function")
    assert set(functions) >= {"DailyTickFunction", "DispatchFunction", "AckHandlerFunction"}
    roles = []
    for name, resource in functions.items():
        props = resource["Properties"]
        assert "Policies" not in props, f"{name}: use its own AWS::IAM::Role, not SAM policy templates"
        role = _getatt(props["Role"])
        assert _template()["Resources"][role]["Type"] == "AWS::IAM::Role", name
        trust = _statements(_props(role)["AssumeRolePolicyDocument"])
        assert [s["Principal"] for s in trust] == [{"Service": "lambda.amazonaws.com"}], name
        roles.append(role)

        log_group = _ref(props["LoggingConfig"]["LogGroup"])
        group = _props(log_group)
        assert _template()["Resources"][log_group]["Type"] == "AWS::Logs::LogGroup"
        assert group["RetentionInDays"] == 7, name
        function_name = props["FunctionName"]["Fn::Sub"]
        assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{function_name}"}, name
        # The role writes to that log group only (no logs:CreateLogGroup, no other group).
        logs = [
            s for s in _role_statements(role) if any(a.startswith("logs:") for a in _as_list(s["Action"]))
        ]
        assert logs and all(s["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]} for s in logs), name
    assert len(set(roles)) == len(roles), "two functions share a role"


def test_no_statement_allows_every_resource_except_put_metric_data_and_ocr():
    for document in _policy_documents(_template()["Resources"]):
        for statement in _statements(document):
            if statement["Effect"] == "Deny":
                continue  # denies may be broad (test_every_bucket_refuses_plain_http)
            actions = _as_list(statement.get("Action", []))
            assert not any(a == "*" or a.endswith(":*") for a in actions), statement
            if "*" in _as_list(statement.get("Resource", [])):
                if statement.get("Sid") == "Ocr":  # Textract's async text detection: no resource types
                    assert actions == [
                        "textract:StartDocumentTextDetection",
                        "textract:GetDocumentTextDetection",
                    ]
                    continue
                # The other service without resource-level permissions: scoped by namespace instead.
                assert actions == ["cloudwatch:PutMetricData"], statement
                assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "ExpiryWatcher"}}


def test_secrets_and_sender_identity_are_exact():
    statements = _role_statements("DispatchRole")
    secrets = [
        r["Fn::Sub"]
        for s in statements
        if s["Action"] == "secretsmanager:GetSecretValue"
        for r in s["Resource"]
    ]
    assert sorted(secrets) == [
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}/email/link-secret-??????",
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}/slack/bot-token-??????",
    ]
    # The sender's identity, its domain's and the addresses verified in that domain (the SES sandbox
    # authorises against the recipients' identities too), nothing else.
    (ses,) = [s["Resource"] for s in statements if s["Action"] == "ses:SendRawEmail"]
    identity = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/"
    domain = {"Fn::Select": [1, {"Fn::Split": ["@", {"Fn::Sub": "${SenderDomain}@${SenderDomain}"}]}]}
    assert ses == [
        {"Fn::Sub": identity + "${SenderDomain}"},
        {"Fn::Sub": [identity + "${Domain}", {"Domain": domain}]},
        {"Fn::Sub": [identity + "*@${Domain}", {"Domain": domain}]},
    ]
    # daily-tick reads no secret and sends no mail
    assert not any(
        "secretsmanager" in str(s["Action"]) or "ses:" in str(s["Action"])
        for s in _role_statements("DailyTickRole")
    )


def _assert_trusted_by_scheduler_of_this_account(role: str) -> None:
    (trust,) = _statements(_props(role)["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_dispatch_can_schedule_only_in_its_group_and_pass_only_the_scheduler_role():
    statements = _role_statements("DispatchRole")
    create = [s for s in statements if s["Action"] == "scheduler:CreateSchedule"]
    assert [s["Resource"] for s in create] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${DeferralScheduleGroup}/*"
        }
    ]
    assert _props("DeferralScheduleGroup")["Name"] == {"Fn::Sub": "${Prefix}-deferrals"}
    passes = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert [s["Resource"] for s in passes] == [{"Fn::GetAtt": ["SchedulerRole", "Arn"]}]
    assert passes[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}

    env = _function_env("DispatchFunction")
    assert _getatt(env["EW_SCHEDULER_ROLE_ARN"]) == "SchedulerRole"
    assert _ref(env["EW_SCHEDULE_GROUP"]) == "DeferralScheduleGroup"
    deferral_dlq = _getatt(env["EW_DEFERRAL_DLQ_ARN"])
    dispatch_arn = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${Prefix}-dispatch"
    assert env["EW_DISPATCH_ARN"] == {"Fn::Sub": dispatch_arn}
    # The scheduler role invokes dispatch only, and parks failures in the deferral DLQ.
    assert _allows("SchedulerRole", "lambda:InvokeFunction", {"Fn::Sub": dispatch_arn})
    assert _allows("SchedulerRole", "sqs:SendMessage", {"Fn::GetAtt": [deferral_dlq, "Arn"]})
    assert len(_role_statements("SchedulerRole")) == 2
    _assert_trusted_by_scheduler_of_this_account("SchedulerRole")


# The scheduled functions: their schedule's name after ${Prefix}-, its expression (in the configured
# timezone) and the DLQ a run the scheduler could not start ends in.
SCHEDULES = [
    ("DailyTickFunction", "daily-tick", "cron(0 8 * * ? *)", "DailyTickDLQ"),
    ("DigestFunction", "weekly-digest", "cron(0 18 ? * SUN *)", "DigestDLQ"),
    ("SummaryFunction", "monthly-summary", "cron(0 9 ? * 2#1 *)", "SummaryDLQ"),
    ("DriveSyncFunction", "drive-sync", "rate(15 minutes)", "DriveSyncDLQ"),
    ("CalendarSyncFunction", "calendar-sync", "rate(1 hour)", "CalendarSyncDLQ"),
]


@pytest.mark.parametrize(("function", "name", "expression", "dlq"), SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_the_schedules_run_in_the_configured_timezone_with_retries_and_a_dlq(function, name, expression, dlq):
    (schedule,) = [
        p["Properties"]
        for p in _resources("AWS::Scheduler::Schedule").values()
        if p["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    ]
    assert schedule["Name"] == {"Fn::Sub": f"${{Prefix}}-{name}"}
    assert schedule["ScheduleExpression"] == expression
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "TimeZone"}
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert json.loads(target["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert set(target["RetryPolicy"]) == {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    # The run the scheduler gives up on ends in the DLQ a failed run of the function ends in.
    assert _getatt(target["DeadLetterConfig"]["Arn"]) == dlq
    role = _getatt(target["RoleArn"])
    assert role not in {_getatt(_props(function)["Role"]), "SchedulerRole"}, (
        "the schedule has its own invoke role"
    )
    _assert_trusted_by_scheduler_of_this_account(role)
    assert _grants(role) == {
        "lambda:InvokeFunction": [{"Fn::GetAtt": [function, "Arn"]}],
        "sqs:SendMessage": [{"Fn::GetAtt": [dlq, "Arn"]}],
    }


def test_the_rule_sends_exactly_the_three_moves_to_dispatch_with_retries_and_a_dlq():
    rules = _resources("AWS::Events::Rule")
    (name,) = rules
    rule = rules[name]["Properties"]
    assert rule.get("EventBusName", "default") == "default"
    assert rule["EventPattern"]["source"] == [{"Fn::Sub": "expiry-watcher.${Prefix}"}]
    assert sorted(rule["EventPattern"]["detail-type"]) == MOVES
    (target,) = rule["Targets"]
    assert _getatt(target["Arn"]) == "DispatchFunction"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] > 0
    dlq = _getatt(target["DeadLetterConfig"]["Arn"])
    assert _template()["Resources"][dlq]["Type"] == "AWS::SQS::Queue"
    # EventBridge writes to the DLQ through the queue's policy, from this rule only.
    (policy,) = [
        p["Properties"]
        for p in _resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": dlq} in p["Properties"]["Queues"]
    ]
    (statement,) = _statements(policy["PolicyDocument"])
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [name, "Arn"]}}}
    # ... and may invoke dispatch, from this rule only.
    (permission,) = [
        p["Properties"]
        for p in _resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert permission["SourceArn"] == {"Fn::GetAtt": [name, "Arn"]}
    assert _ref(permission["FunctionName"]) == "DispatchFunction"


@pytest.mark.parametrize(
    ("function", "retries", "dlq"), [(f[0], f[5], f[6]) for f in FUNCTIONS], ids=FUNCTION_IDS
)
def test_failed_async_invokes_end_in_a_dlq(function, retries, dlq):
    config = _props(function)["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == retries
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": [dlq, "Arn"]}}
    assert _template()["Resources"][dlq]["Type"] == "AWS::SQS::Queue"
    # Lambda delivers to the destination with the function's own role.
    assert _allows(_getatt(_props(function)["Role"]), "sqs:SendMessage", {"Fn::GetAtt": [dlq, "Arn"]})


def test_a_dispatch_claim_lease_ends_before_lambdas_first_retry():
    from ew.dispatching import LEASE_MARGIN

    # An invocation killed mid-send holds its claim for its timeout plus the margin; Lambda's first
    # async retry comes about a minute later and must find the lease over, or the alert is lost.
    lease = _props("DispatchFunction")["Timeout"] + LEASE_MARGIN.total_seconds()
    assert lease <= 45 < 60


def test_dispatch_failures_end_in_a_dlq_whose_alarm_fires_on_the_first_message():
    destination = _getatt(
        _props("DispatchFunction")["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]
    )
    rule_dlq = _getatt(_props("MovesRule")["Targets"][0]["DeadLetterConfig"]["Arn"])
    assert destination == rule_dlq == "DispatchDLQ"
    [alarm] = [
        a["Properties"]
        for a in _resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["Dimensions"]
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DispatchDLQ", "QueueName"]}}]
    ]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["EvaluationPeriods"]) == (
        "GreaterThanThreshold",
        0,
        1,
    )
    assert alarm["AlarmActions"] == [{"Ref": "CostAlarmTopic"}]


def test_dispatch_may_check_the_acks_for_a_renew_before_it_sends():
    assert _allows("DispatchRole", "dynamodb:Query", {"Fn::GetAtt": ["AckTable", "Arn"]})


def test_every_dlq_and_every_function_has_an_alarm_on_the_alarm_topic():
    alarms = [a["Properties"] for a in _resources("AWS::CloudWatch::Alarm").values()]
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": "CostAlarmTopic"}]
        if alarm["MetricName"] == "TickCompleted":
            continue  # the heartbeat fires on too few (tests/unit/test_template_reports.py)
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        # Any failure at all is worth a look; only the signature-failure count has a tolerance.
        if alarm["MetricName"] != "SlackVerificationFailures":
            assert alarm["Threshold"] == 0, alarm
    watched_queues = {
        _getatt(a["Dimensions"][0]["Value"], "QueueName")
        for a in alarms
        if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    assert watched_queues == set(_resources("AWS::SQS::Queue"))
    erroring = {_ref(a["Dimensions"][0]["Value"]): a for a in alarms if a["MetricName"] == "Errors"}
    assert set(erroring) == set(_resources("AWS::Serverless::Function"))
    assert erroring["DailyTickFunction"]["Period"] == 86400  # "failures > 0 in a day"


def test_budget_of_15_usd_notifies_the_cost_alarm_topic_at_80_and_100_percent():
    assert _props("CostAlarmTopic")["TopicName"] == {"Fn::Sub": "${Prefix}-cost-alarm"}
    (budget,) = [b["Properties"] for b in _resources("AWS::Budgets::Budget").values()]
    assert budget["Budget"]["TimeUnit"] == "MONTHLY"
    assert budget["Budget"]["BudgetLimit"] == {"Amount": {"Ref": "MonthlyBudgetUsd"}, "Unit": "USD"}
    assert _template()["Parameters"]["MonthlyBudgetUsd"]["Default"] == 15
    notifications = budget["NotificationsWithSubscribers"]
    assert sorted(n["Notification"]["Threshold"] for n in notifications) == [80, 100]
    for n in notifications:
        assert n["Subscribers"] == [{"SubscriptionType": "SNS", "Address": {"Ref": "CostAlarmTopic"}}]
    (policy,) = [p["Properties"] for p in _resources("AWS::SNS::TopicPolicy").values()]
    principals = {s["Principal"]["Service"] for s in _statements(policy["PolicyDocument"])}
    assert principals == {"budgets.amazonaws.com", "cloudwatch.amazonaws.com"}


def test_tables_and_buckets():
    tables = {_props(n)["TableName"]["Fn::Sub"]: _props(n) for n in _resources("AWS::DynamoDB::Table")}
    names = ("pings", "ack", "audit", "pings-archive", "state", "chain-heads")
    assert set(tables) == {f"${{Prefix}}-{t}" for t in names}
    # The store finds the heads table by the pings table's name (callers name only the other three).
    assert heads_table_for("${Prefix}-pings") == "${Prefix}-chain-heads"
    heads = tables["${Prefix}-chain-heads"]
    assert [k["AttributeName"] for k in heads["KeySchema"]] == ["item_id", "cycle_expiry"]
    for table in tables.values():
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    state = tables["${Prefix}-state"]
    assert [k["AttributeName"] for k in state["KeySchema"]] == ["pk", "sk"]
    assert state["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}

    buckets = {n: _props(n) for n in _resources("AWS::S3::Bucket")}
    assert len(buckets) == 4
    for name, bucket in buckets.items():
        assert bucket["BucketName"]["Fn::Sub"].endswith("-${AWS::AccountId}-${AWS::Region}"), name
        assert all(bucket["PublicAccessBlockConfiguration"].values()), name
    (rule,) = buckets["RawMimeBucket"]["LifecycleConfiguration"]["Rules"]
    assert rule["Transitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": 30}]
    assert rule["ExpirationInDays"] == 7 * 365
    # The registry and the rules are read every day and rewritten only when they change: their
    # current objects never leave S3 Standard; old versions go to Glacier at 90 days, at 7 years away.
    for name in ("RegistrySourceBucket", "RulesSourceBucket"):
        bucket = buckets[name]
        assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}, name
        for rule in bucket["LifecycleConfiguration"]["Rules"]:
            assert not {"Transitions", "Transition", "ExpirationInDays", "ExpirationDate"} & set(rule), name
        (rule,) = bucket["LifecycleConfiguration"]["Rules"]
        assert rule["Status"] == "Enabled"
        assert rule["NoncurrentVersionTransitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": 90}]
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7 * 365}
    outputs = _template()["Outputs"]
    assert outputs["RawMimeBucket"]["Value"] == {"Ref": "RawMimeBucket"}


def _sender_domain(sender: str) -> str:
    """What the template's Fn::Select [1, Fn::Split ["@", "${SenderDomain}@${SenderDomain}"]] gives."""
    return f"{sender}@{sender}".split("@")[1]


@pytest.mark.parametrize(
    ("sender", "domain"),
    [
        ("acme.example", "acme.example"),
        ("watcher@acme.example", "acme.example"),
        ("mail.acme.example", "mail.acme.example"),
    ],
)
def test_the_sender_domain_expression(sender, domain):
    assert _sender_domain(sender) == domain


def test_every_bucket_refuses_plain_http():
    policies = {
        _ref(p["Properties"]["Bucket"]): p["Properties"] for p in _resources("AWS::S3::BucketPolicy").values()
    }
    assert set(policies) == set(_resources("AWS::S3::Bucket"))
    for bucket, policy in policies.items():
        denies = [s for s in _statements(policy["PolicyDocument"]) if s["Effect"] == "Deny"]
        assert denies == [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [{"Fn::GetAtt": [bucket, "Arn"]}, {"Fn::Sub": f"${{{bucket}.Arn}}/*"}],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ], bucket


BOUNDARY = {"Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]}


def test_every_role_carries_the_permissions_boundary():
    parameter = _template()["Parameters"]["PermissionsBoundaryArn"]
    assert parameter["Default"] == ""
    assert re.fullmatch(
        parameter["AllowedPattern"], "arn:aws:iam::123456789012:policy/expiry-watcher-permissions-boundary"
    )
    assert _template()["Conditions"]["HasPermissionsBoundary"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PermissionsBoundaryArn"}, ""]}]
    }
    # Roles SAM would generate for a function, and every role declared here.
    assert _template()["Globals"]["Function"]["PermissionsBoundary"] == BOUNDARY
    roles = _resources("AWS::IAM::Role")
    assert len(roles) >= 5
    for name in roles:
        assert _props(name)["PermissionsBoundary"] == BOUNDARY, name


def test_the_event_source_is_derived_from_the_prefix():
    source = {"Fn::Sub": "expiry-watcher.${Prefix}"}
    assert _template()["Globals"]["Function"]["Environment"]["Variables"]["EW_EVENT_SOURCE"] == source
    (rule,) = _resources("AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"]["source"] == [source]
    (emit,) = [s for s in _role_statements("DailyTickRole") if s["Action"] == "events:PutEvents"]
    assert emit["Condition"] == {"StringEquals": {"events:source": source}}
    # The code emits what the template's expression gives for a prefix.
    assert event_source("acme") == "expiry-watcher.acme"
    assert "EW_EVENT_SOURCE" in _env_read_by_handler(ROOT / "src" / "daily_tick" / "app.py")


def test_environment_contract_of_the_handlers():
    common = {
        "EW_PINGS_TABLE", "EW_ACK_TABLE", "EW_AUDIT_TABLE", "EW_ARCHIVE_TABLE", "EW_STATE_TABLE",
        "EW_REGISTRY_BUCKET", "EW_RULES_BUCKET", "EW_CONFIG_PATH", "EW_SLACK_TOKEN_SECRET",
        "EW_SLACK_SIGNING_SECRET", "EW_LINK_SECRET", "EW_DRIVE_SA_SECRET", "POWERTOOLS_METRICS_NAMESPACE",
    }  # fmt: skip
    for function in _resources("AWS::Serverless::Function"):
        assert common <= set(_function_env(function)), function
    dispatch = _function_env("DispatchFunction")
    assert {
        "EW_DISPATCH_ARN",
        "EW_SCHEDULER_ROLE_ARN",
        "EW_SCHEDULE_GROUP",
        "EW_DEFERRAL_DLQ_ARN",
        "EW_ACTION_URL",
    } <= set(dispatch)
    # The email links point at ack-handler's Function URL: nothing for the operator to set.
    assert _getatt(dispatch["EW_ACTION_URL"], "FunctionUrl") == "AckHandlerFunctionUrl"
    assert "ActionUrl" not in _template()["Parameters"]
    assert dispatch["EW_SLACK_TOKEN_SECRET"] == {"Fn::Sub": "${Prefix}/slack/bot-token"}
    assert dispatch["POWERTOOLS_METRICS_NAMESPACE"] == "ExpiryWatcher"


# --- ack-handler: the public Function URL -------------------------------------------------------------

ACK_FUNCTION_ARN = (
    "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${Prefix}-ack-handler"
)


def _runtime_calls(handler: Path) -> set[str]:
    """The ew.runtime functions a handler module calls (`runtime.<name>(...)`)."""
    return {
        node.func.attr
        for node in ast.walk(ast.parse(handler.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "runtime"
    }


def _env_read_by(roots: set[str]) -> set[str]:
    """The environment variables that the named functions of ew/runtime.py, and the runtime functions
    they call in turn, read with env("...")."""
    tree = ast.parse(RUNTIME.read_text())
    defined = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert roots <= set(defined), f"ew/runtime.py does not define {sorted(roots - set(defined))}"
    names: set[str] = set()
    seen: set[str] = set()
    todo = sorted(roots)
    while todo:
        function = todo.pop()
        if function in seen:
            continue
        seen.add(function)
        for node in ast.walk(defined[function]):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id == "env" and node.args and isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value))
            elif node.func.id in defined:
                todo.append(node.func.id)
    return names


def test_ack_handler_is_a_public_function_url_with_reserved_concurrency():
    props = _props("AckHandlerFunction")
    # Public on purpose (Slack and email links carry no AWS credentials): the code verifies every request.
    assert props["FunctionUrlConfig"] == {"AuthType": "NONE"}
    # A flood cannot run up cost or starve the account (DESIGN.md §9).
    assert isinstance(props["ReservedConcurrentExecutions"], int)
    assert 1 <= props["ReservedConcurrentExecutions"] <= 10
    output = _template()["Outputs"]["AckHandlerUrl"]
    assert _getatt(output["Value"], "FunctionUrl") == "AckHandlerFunctionUrl"
    assert "slack/actions" in output["Description"] and "email" in output["Description"]
    # The routes the output and the Slack manifest name are the handler's routes.
    # Read from the source, not imported: importing the handler here would create its Logger and
    # Metrics outside the local cloud's environment, for every later test in this process.
    tree = ast.parse(ACK_HANDLER_APP.read_text())
    [table] = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["ROUTES"]
    ]
    assert isinstance(table, ast.Dict)
    routes = {ast.literal_eval(key) for key in table.keys if key is not None}
    assert routes == {("POST", "/slack/actions"), ("GET", "/email"), ("POST", "/email")}


def _env_read_by_handler(handler: Path) -> set[str]:
    """The environment variables a handler module reads: its own runtime.env("...") calls, and those
    of the ew.runtime functions it calls (and they call in turn)."""
    direct = {
        str(node.args[0].value)
        for node in ast.walk(ast.parse(handler.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "env"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "runtime"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    return direct | _env_read_by(_runtime_calls(handler) - {"env"})


def test_ack_handler_environment_has_what_its_runtime_reads():
    assert {"state_table", "registry_sheet", "signing_secret"} <= _runtime_calls(ACK_HANDLER_APP)
    # defer_task is handed to the services (not called by the handler itself): it reads the name too.
    wanted = _env_read_by_handler(ACK_HANDLER_APP) | _env_read_by({"defer_task"})
    assert {"EW_STATE_TABLE", "EW_AUDIT_TABLE", "EW_SLACK_SIGNING_SECRET", "EW_DRIVE_SA_SECRET"} <= wanted
    # AWS_LAMBDA_FUNCTION_NAME (the self-invoke) is set by Lambda itself.
    assert wanted - {"AWS_LAMBDA_FUNCTION_NAME"} <= set(_function_env("AckHandlerFunction"))


@pytest.mark.parametrize(
    ("function", "app", "reads"),
    [(f[0], f[1], f[7]) for f in FUNCTIONS if f[7] is not None],
    ids=[f[0] for f in FUNCTIONS if f[7] is not None],
)
def test_every_environment_variable_a_handler_reads_is_set(function: str, app: str, reads: set[str]):
    wanted = _env_read_by_handler(ROOT / "src" / app / "app.py")
    assert wanted and reads <= wanted, sorted(reads - wanted)
    assert wanted <= set(_function_env(function)), sorted(wanted - set(_function_env(function)))


def test_ack_handler_role_is_exact():
    statements = _role_statements("AckHandlerRole")
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for resource in _as_list(statement["Resource"]):
            # GetAtt of its own tables, queue and log group, or an exact !Sub ARN.
            assert resource != "*", statement
            if isinstance(resource, dict) and "Fn::Sub" in resource:
                text = json.dumps(resource["Fn::Sub"])
                assert "*" not in text or (text.count("*") == 1 and "/*" in text), statement  # ssm path/*

    def actions_on(target: Any) -> set[str]:
        return {
            a
            for s in statements
            if target in _as_list(s["Resource"])
            for a in _as_list(s["Action"])
            if a.startswith("dynamodb:")
        }

    def table(name: str) -> dict[str, Any]:
        return {"Fn::GetAtt": [name, "Arn"]}

    assert actions_on(table("AckTable")) == {"dynamodb:PutItem", "dynamodb:GetItem"}
    assert actions_on(table("AuditTable")) == {"dynamodb:PutItem", "dynamodb:Query"}
    assert actions_on(table("StateTable")) == {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"}
    assert actions_on(table("PingsTable")) == {
        "dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
        "dynamodb:DeleteItem",
    }  # fmt: skip
    assert actions_on(table("PingsArchiveTable")) == {
        "dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:GetItem"
    }  # fmt: skip
    assert not any(a == "dynamodb:Scan" for s in statements for a in _as_list(s["Action"]))

    secrets = sorted(
        r["Fn::Sub"]
        for s in statements
        if s["Action"] == "secretsmanager:GetSecretValue"
        for r in s["Resource"]
    )
    base = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}"
    assert secrets == [
        f"{base}/drive/sa-??????",
        f"{base}/email/link-secret-??????",
        f"{base}/slack/bot-token-??????",
        f"{base}/slack/signing-secret-??????",
    ]
    assert any(s["Action"] == "ssm:GetParametersByPath" for s in statements)
    # No mail, no events, no schedules, no buckets: it only records clicks.
    assert not any(
        str(a).split(":")[0] in {"ses", "events", "scheduler", "s3", "iam"}
        for s in statements
        for a in _as_list(s["Action"])
    )


def test_a_click_claim_outlives_any_ack_handler_run():
    # A claim is a lease (opskit.state): it must outlast the longest run of the attempt that holds it,
    # or a live holder could be taken over and an answer recorded twice.
    from ew.answers import CLAIM_LEASE

    assert CLAIM_LEASE.total_seconds() > _props("AckHandlerFunction")["Timeout"]


def test_ack_handler_invokes_only_itself():
    function_name = _props("AckHandlerFunction")["FunctionName"]["Fn::Sub"]
    assert ACK_FUNCTION_ARN.endswith(f":function:{function_name}")
    invokes = [
        s for s in _role_statements("AckHandlerRole") if "lambda:InvokeFunction" in _as_list(s["Action"])
    ]
    assert [s["Resource"] for s in invokes] == [{"Fn::Sub": ACK_FUNCTION_ARN}]
    assert all(_as_list(s["Action"]) == ["lambda:InvokeFunction"] for s in invokes)
    # ... and no other role may invoke it (its public URL is the only other way in).
    for role in _resources("AWS::IAM::Role"):
        if role != "AckHandlerRole":
            assert not _allows(role, "lambda:InvokeFunction", {"Fn::Sub": ACK_FUNCTION_ARN}), role


def test_slack_verification_failures_alarm():
    (alarm,) = [
        a["Properties"]
        for a in _resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "SlackVerificationFailures"
    ]
    env = _template()["Globals"]["Function"]["Environment"]["Variables"]
    # Powertools Metrics writes to POWERTOOLS_METRICS_NAMESPACE with a "service" dimension.
    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"] == "ExpiryWatcher"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 3600, 5)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert '"SlackVerificationFailures"' in ACK_HANDLER_APP.read_text()


# --- deploy: bootstrap template, workflow, Slack app manifest ---------------------------------------------


@pytest.mark.parametrize("path", [BOOTSTRAP, SES_RULES], ids=lambda p: p.name)
def test_other_cloudformation_templates_pass_cfn_lint(path):
    matches = _lint(path)
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_bootstrap_trusts_only_this_repositorys_main_branch():
    bootstrap = _decoded(BOOTSTRAP)
    assert bootstrap["Conditions"]["CreateProvider"] == {"Fn::Equals": [{"Ref": "ExistingProviderArn"}, ""]}
    provider = bootstrap["Resources"]["GitHubOidcProvider"]
    assert provider["Condition"] == "CreateProvider"
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]

    role = bootstrap["Resources"]["DeployRole"]["Properties"]
    (trust,) = _statements(role["AssumeRolePolicyDocument"])
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Principal"]["Federated"] == {
        "Fn::If": ["CreateProvider", {"Ref": "GitHubOidcProvider"}, {"Ref": "ExistingProviderArn"}]
    }
    assert list(trust["Condition"]) == ["StringEquals"]  # exact claims, no StringLike wildcard
    claims = trust["Condition"]["StringEquals"]
    assert claims["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert claims["token.actions.githubusercontent.com:sub"] == [
        {"Fn::Sub": "repo:${GitHubOrg}/${GitHubRepo}:ref:refs/heads/main"},
        {
            "Fn::If": [
                "HasEnvironment",
                {"Fn::Sub": "repo:${GitHubOrg}/${GitHubRepo}:environment:${GitHubEnvironment}"},
                {"Ref": "AWS::NoValue"},
            ]
        },
    ]
    assert bootstrap["Parameters"]["GitHubEnvironment"]["Default"] == ""


def test_bootstrap_deploy_role_is_scoped_by_name():
    bootstrap = _decoded(BOOTSTRAP)
    role = bootstrap["Resources"]["DeployRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    statements = [s for p in role["Policies"] for s in _statements(p["PolicyDocument"])]
    # The role's own name is outside the role scope it manages: it cannot rewrite its own policy.
    assert role["RoleName"] == {"Fn::Sub": "github-deploy-${AppStackName}"}
    (roles,) = [
        s for s in statements if "iam:PutRolePolicy" in _as_list(s["Action"]) and s["Effect"] == "Allow"
    ]
    assert roles["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AppStackName}-*"
    }
    (pass_role,) = [s for s in statements if "iam:PassRole" in _as_list(s["Action"])]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": ["lambda.amazonaws.com", "scheduler.amazonaws.com"]}
    }
    # Stacks: the application's, the SES one, SAM's managed one; plus the SAM transform.
    stacks = [s for s in statements if "cloudformation:ExecuteChangeSet" in _as_list(s["Action"])]
    assert [r["Fn::Sub"].split(":stack/")[1] for s in stacks for r in _as_list(s["Resource"])] == [
        "${AppStackName}/*", "${AppStackName}-ses/*", "aws-sam-cli-managed-default/*"
    ]  # fmt: skip
    # "*" only where the service has no resource-level permission (or in a Deny).
    for statement in statements:
        if statement["Effect"] == "Deny":
            continue
        actions = _as_list(statement["Action"])
        assert not any(a == "*" or a.endswith(":*") for a in actions), statement
        if statement["Resource"] == "*":
            assert all(
                a in {"cloudformation:ValidateTemplate", "cloudformation:GetTemplateSummary"}
                or (a.startswith("ses:") and "Receipt" in a)
                for a in actions
            ), statement
    # Every service sam deploy touches for this stack is covered.
    services = {a.split(":")[0] for s in statements for a in _as_list(s["Action"])}
    assert services >= {
        "cloudformation", "s3", "iam", "lambda", "dynamodb", "scheduler", "events", "sqs", "sns", "logs",
        "cloudwatch", "budgets", "ssm", "ses",
    }  # fmt: skip


def _deploy_statements() -> list[dict[str, Any]]:
    role = _decoded(BOOTSTRAP)["Resources"]["DeployRole"]["Properties"]
    return [s for p in role["Policies"] for s in _statements(p["PolicyDocument"])]


def test_the_deploy_role_creates_roles_only_with_the_boundary_and_cannot_remove_it():
    bootstrap = _decoded(BOOTSTRAP)
    boundary = bootstrap["Resources"]["PermissionsBoundary"]
    assert boundary["Type"] == "AWS::IAM::ManagedPolicy"
    assert bootstrap["Outputs"]["PermissionsBoundaryArn"]["Value"] == {"Ref": "PermissionsBoundary"}
    statements = _deploy_statements()
    on_boundary = {"iam:PermissionsBoundary": {"Ref": "PermissionsBoundary"}}
    # Every Allow that creates a role or writes/attaches a policy requires the boundary on the role.
    writes = {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"}
    for statement in statements:
        actions = set(_as_list(statement["Action"]))
        if statement["Effect"] == "Allow" and actions & writes:
            assert statement["Condition"] == {"StringEquals": on_boundary}, statement
    allowed = {a for s in statements if s["Effect"] == "Allow" for a in _as_list(s["Action"])}
    assert writes <= allowed and "iam:DeleteRolePermissionsBoundary" not in allowed
    # ... and explicit denies no later Allow can override.
    denies = {s["Sid"]: s for s in statements if s["Effect"] == "Deny"}
    assert set(_as_list(denies["DenyRolesWithoutTheBoundary"]["Action"])) == writes
    assert denies["DenyRolesWithoutTheBoundary"]["Condition"] == {"StringNotEquals": on_boundary}
    assert denies["DenyRemovingBoundaries"]["Action"] == "iam:DeleteRolePermissionsBoundary"
    assert denies["DenyRemovingBoundaries"]["Resource"] == "*"
    assert denies["DenyEditingTheBoundary"]["Resource"] == {"Ref": "PermissionsBoundary"}
    assert {"iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy"} <= set(
        denies["DenyEditingTheBoundary"]["Action"]
    )
    # The boundary itself grants no IAM beyond passing the application's roles, and no wildcard action.
    document = boundary["Properties"]["PolicyDocument"]
    for statement in _statements(document):
        boundary_actions = _as_list(statement["Action"])
        assert not any(a == "*" or a.endswith(":*") for a in boundary_actions), statement
        assert all(a == "iam:PassRole" for a in boundary_actions if a.startswith("iam:")), statement
    # It covers every action the application's roles are given (else they would be silently cut).
    granted = {a for s in _statements(document) for a in _as_list(s["Action"])}
    used = {
        a
        for role in _resources("AWS::IAM::Role")
        for s in _role_statements(role)
        if s["Effect"] == "Allow"
        for a in _as_list(s["Action"])
    }
    assert used <= granted, sorted(used - granted)


def test_the_deploy_role_can_roll_back_and_delete_its_own_stacks():
    (statement,) = [s for s in _deploy_statements() if "cloudformation:DeleteStack" in _as_list(s["Action"])]
    assert set(statement["Action"]) >= {
        "cloudformation:ContinueUpdateRollback", "cloudformation:RollbackStack", "cloudformation:DeleteStack"
    }  # fmt: skip
    # Its own stacks only: not SAM's managed stack, which other applications share.
    assert [r["Fn::Sub"].split(":stack/")[1] for r in statement["Resource"]] == [
        "${AppStackName}/*", "${AppStackName}-ses/*"
    ]  # fmt: skip


def _workflow() -> dict[str, Any]:
    workflow: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def test_deploy_job_uses_oidc_and_activates_the_rule_set():
    # The deploy's place in the workflow (after CI, main only, its permissions): tests/unit/test_workflows.py.
    workflow = _workflow()
    job = workflow["jobs"]["deploy"]
    steps = job["steps"]
    env = job["env"]
    (credentials,) = [
        s for s in steps if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")
    ]
    assert credentials["with"]["role-to-assume"] == "${{ vars.EW_DEPLOY_ROLE_ARN }}"
    assert not any("aws-access-key-id" in s.get("with", {}) for s in steps)
    script = "\n".join(str(s.get("run", "")) for s in steps)
    assert "uv tool install" in script and "aws-sam-cli" in script
    # The SAM CLI the deploy installs is the one `make sam` (CI, developers) pins.
    makefile = (ROOT / "Makefile").read_text()
    assert f"SAM_VERSION := {env['SAM_VERSION']}\n" in makefile
    for needed in ("sam deploy", "--no-confirm-changeset", "--no-fail-on-empty-changeset",
                   "--parameter-overrides", "SenderDomain=", "TimeZone=", "AlarmEmail=", "PermissionsBoundaryArn=",
                   "--template-file ses-rules.yaml", "RawMimeBucket", "set-active-receipt-rule-set"):  # fmt: skip
        assert needed in script, needed
    # The boundary it passes is the one the bootstrap stack creates for this stack name.
    assert 'policy/${STACK_NAME}-permissions-boundary"' in script
    bootstrap = _decoded(BOOTSTRAP)
    boundary = bootstrap["Resources"]["PermissionsBoundary"]["Properties"]
    assert boundary["ManagedPolicyName"] == {"Fn::Sub": "${AppStackName}-permissions-boundary"}
    # The rule set it activates is the one the raw-mime bucket policy lets SES write from.
    assert "RuleSetName=${PREFIX}-inbound-rules" in script
    assert '--rule-set-name "${PREFIX}-inbound-rules"' in script
    policy = json.dumps(_props("RawMimeBucketPolicy"))
    assert "receipt-rule-set/${Prefix}-inbound-rules" in policy
    # The stack name is samconfig.toml's.
    samconfig = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert env["STACK_NAME"] == samconfig["default"]["global"]["parameters"]["stack_name"]
    assert env["PREFIX"] == _template()["Parameters"]["Prefix"]["Default"]


def test_slack_app_manifest():
    manifest = yaml.safe_load(SLACK_MANIFEST.read_text())
    assert manifest["display_information"]["name"] == "Expiry Watcher"
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert set(scopes) == {"chat:write", "im:write", "users:read", "users:read.email"}
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"] == "https://REPLACE-WITH-AckHandlerUrl/slack/actions"
    assert "event_subscriptions" not in manifest["settings"]


# --- the shared layer's build -----------------------------------------------------------------------------


def _pins(lines: list[str]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        assert match, f"not an exact pin: {raw!r}"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def _requirements(text: str) -> dict[str, tuple[str, list[str]]]:
    """A hashed requirements file (`uv export` / `pip --require-hashes` format): name -> (version, hashes).
    Each requirement is one logical line, continued with backslashes; markers are allowed."""
    lines = [
        line if line.lstrip().startswith("--hash") else line.split("#", 1)[0] for line in text.splitlines()
    ]
    logical = re.sub(r"\\\n", " ", "\n".join(lines))
    requirements: dict[str, tuple[str, list[str]]] = {}
    for line in logical.splitlines():
        if not line.strip():
            continue
        match = re.fullmatch(
            r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*(?:;[^-]*)?((?:\s+--hash=sha256:[0-9a-f]{64})*)\s*",
            line,
        )
        assert match, f"not an exact, hashed pin: {line!r}"
        requirements[canonicalize_name(match[1])] = (match[2], re.findall(r"sha256:([0-9a-f]{64})", match[3]))
    return requirements


def _lock_closure(roots: set[str]) -> dict[str, set[str]]:
    """Every package uv.lock installs for `roots` on Lambda (CPython 3.13, Linux arm64): name -> versions."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages: dict[str, list[dict[str, Any]]] = {}
    for package in lock["package"]:
        packages.setdefault(canonicalize_name(package["name"]), []).append(package)
    lambda_env = {
        "python_version": "3.13", "python_full_version": "3.13.0", "implementation_name": "cpython",
        "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
        "platform_machine": "aarch64", "os_name": "posix", "extra": "",
    }  # fmt: skip
    seen: dict[str, set[str]] = {}
    visited: set[tuple[str, tuple[str, ...]]] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(name, ()) for name in sorted(roots)]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in visited:
            continue
        visited.add((name, extras))
        seen.setdefault(name, set()).update(p["version"] for p in packages[name])
        for package in packages[name]:
            deps = list(package.get("dependencies", []))
            for extra in extras:  # package[extra] brings that extra's dependencies too
                deps += package.get("optional-dependencies", {}).get(extra, [])
            for dep in deps:
                if "marker" in dep and not Marker(dep["marker"]).evaluate(lambda_env):
                    continue
                todo.append((canonicalize_name(dep["name"]), tuple(dep.get("extra", ()))))
    return seen


def test_layer_requirements_match_pyproject_and_uv_lock():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _pins(project["dependencies"])
    hashed = _requirements(LAYER_REQUIREMENTS.read_text())
    layer = {name: version for name, (version, _) in hashed.items()}
    # Every requirement carries its hashes (pip installs the layer with --require-hashes).
    assert all(hashes for _, hashes in hashed.values())
    assert not RUNTIME_PROVIDED & set(layer), "the layer must not ship boto3/botocore/s3transfer"
    # Direct dependencies: pyproject's, pinned identically, minus what the runtime provides.
    direct = {name: version for name, version in runtime.items() if name not in RUNTIME_PROVIDED}
    assert {name: layer.get(name) for name in direct} == direct
    # Everything else: exactly the rest of what uv.lock installs for them, at the locked versions.
    closure = _lock_closure(set(direct))
    assert set(layer) == set(closure) - RUNTIME_PROVIDED
    for name, version in layer.items():
        assert version in closure[name], f"{name}=={version} but uv.lock has {sorted(closure[name])}"


def _uv() -> str | None:
    # `uv run` tells its children where it is; otherwise PATH.
    return os.environ.get("UV") or shutil.which("uv")


def test_layer_requirements_are_uv_locks_export():
    """layers/shared/requirements.txt is `make layer-requirements`'s output for the current uv.lock: the
    versions and the hashes pip checks are exactly the lock's. Out of step (a dependency changed):
    run `make layer-requirements`."""
    text = LAYER_REQUIREMENTS.read_text()
    command = text.splitlines()[1].removeprefix("#").split()
    assert command[:2] == ["uv", "export"], text.splitlines()[:2]
    for flag in ("--frozen", "--no-dev", "--no-emit-project", "--format"):
        assert flag in command, flag
    no_emit = [command[i + 1] for i, arg in enumerate(command) if arg == "--no-emit-package"]
    assert sorted(no_emit) == sorted(RUNTIME_PROVIDED)
    makefile = (ROOT / "Makefile").read_text()
    assert "--no-emit-package boto3 --no-emit-package botocore --no-emit-package s3transfer" in makefile
    uv = _uv()
    if uv is None:
        if os.environ.get("CI"):
            pytest.fail("uv is not installed (make setup installs it)")
        pytest.skip("uv is not installed")
    output = command.index("--output-file")
    args = command[2:output] + command[output + 2 :]
    exported = subprocess.run(
        [uv, "export", *args, "--no-header"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "\n".join(text.splitlines()[2:]) == "\n".join(exported.splitlines()), (
        "layers/shared/requirements.txt is out of step with uv.lock: run `make layer-requirements`"
    )


def test_layer_is_built_by_its_makefile_for_arm64():
    layer = _template()["Resources"]["SharedLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/shared"
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    makefile = LAYER_MAKEFILE.read_text()
    assert re.search(r"^build-SharedLayer:", makefile, re.M)
    assert "manylinux2014_aarch64" in makefile and "--python-version 3.13" in makefile
    assert "--only-binary=:all:" in makefile and "--require-hashes" in makefile
    # Byte-compiled by python3.13 with hash-based .pyc that need no source mtime (tests/packaging).
    assert "PYTHON ?= python3.13" in makefile
    assert "compileall" in makefile and "--invalidation-mode unchecked-hash" in makefile
    for kept in ("sheets.v4.json", "drive.v3.json", "calendar.v3.json"):
        assert kept in makefile
