"""The SAM template (template.yaml) and the shared layer's pinned requirements."""

from __future__ import annotations

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
from cfnlint.api import lint_file
from cfnlint.decode import decode
from packaging.markers import Marker
from packaging.utils import canonicalize_name

# ---------------------------------------------------------------------------------------------------------
# The SAM template (template.yaml): what a reviewer checks by eye, checked on every run.
# ---------------------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
LAYER_REQUIREMENTS = ROOT / "layers" / "shared" / "requirements.txt"
LAYER_MAKEFILE = ROOT / "layers" / "shared" / "Makefile"
# The Lambda python3.13 runtime ships these: the layer must not (they are big, and would shadow it).
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer"}
MOVES = ["ew.escalate", "ew.first_alert", "ew.reminder"]


@cache
def _template() -> dict[str, Any]:
    """template.yaml with CloudFormation tags decoded the way cfn-lint reads them (!Ref -> {"Ref": ...},
    !GetAtt A.B -> {"Fn::GetAtt": ["A", "B"]}, !Sub -> {"Fn::Sub": ...})."""
    template, problems = decode(str(TEMPLATE))
    assert not problems, [str(p) for p in problems]
    assert template is not None
    return template


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


def _function_env(name: str) -> dict[str, Any]:
    """Environment variables as SAM merges them: Globals, then the function's own."""
    env = dict(_template()["Globals"]["Function"].get("Environment", {}).get("Variables", {}))
    env.update(_props(name).get("Environment", {}).get("Variables", {}))
    return env


def _sam() -> str | None:
    extra = str(Path.home() / ".local" / "bin")
    return shutil.which("sam", path=os.pathsep.join([os.environ.get("PATH", ""), extra]))


def test_cfn_lint_finds_nothing():
    matches = lint_file(TEMPLATE)
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_sam_validate_lint():
    sam = _sam()
    if sam is None:
        if os.environ.get("CI"):
            pytest.fail("the SAM CLI is not installed (CI installs it with `make sam`)")
        pytest.skip("the SAM CLI is not installed (make sam)")
    result = subprocess.run(
        [sam, "validate", "--lint", "--region", "us-east-1", "--template-file", str(TEMPLATE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def test_runtime_is_python313_on_arm64_everywhere():
    function_globals = _template()["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    for name in _resources("AWS::Serverless::Function"):
        assert "Runtime" not in _props(name) and "Architectures" not in _props(name), name
    layer = _template()["Resources"]["SharedLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


@pytest.mark.parametrize(
    ("function", "name", "code", "memory", "timeout"),
    [
        ("DailyTickFunction", "${Prefix}-daily-tick", "src/daily_tick/", 512, 60),
        ("DispatchFunction", "${Prefix}-dispatch", "src/dispatch/", 256, 30),
    ],
)
def test_functions_are_as_the_build_sheet_says(function, name, code, memory, timeout):
    props = _props(function)
    assert props["FunctionName"] == {"Fn::Sub": name}
    assert props["CodeUri"] == code
    assert props["Handler"] == "app.handler"
    assert (props["MemorySize"], props["Timeout"]) == (memory, timeout)


def test_every_function_has_its_own_role_and_a_7_day_log_group():
    functions = _resources("AWS::Serverless::Function")
    assert set(functions) >= {"DailyTickFunction", "DispatchFunction"}
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


def test_no_statement_allows_every_resource_except_put_metric_data():
    for document in _policy_documents(_template()["Resources"]):
        for statement in _statements(document):
            actions = _as_list(statement.get("Action", []))
            assert not any(a == "*" or a.endswith(":*") for a in actions), statement
            if "*" in _as_list(statement.get("Resource", [])):
                # The one service without resource-level permissions: scoped by namespace instead.
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
    ses = [s["Resource"] for s in statements if s["Action"] == "ses:SendRawEmail"]
    assert ses == [
        {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderDomain}"}
    ]
    # daily-tick reads no secret and sends no mail
    assert not any(
        "secretsmanager" in str(s["Action"]) or "ses:" in str(s["Action"])
        for s in _role_statements("DailyTickRole")
    )


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


def _assert_trusted_by_scheduler_of_this_account(role: str) -> None:
    (trust,) = _statements(_props(role)["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_the_tick_runs_at_8_in_the_configured_timezone():
    (schedule,) = [
        p["Properties"]
        for p in _resources("AWS::Scheduler::Schedule").values()
        if p["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": ["DailyTickFunction", "Arn"]}
    ]
    assert schedule["Name"] == {"Fn::Sub": "${Prefix}-daily-tick"}
    assert schedule["ScheduleExpression"] == "cron(0 8 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "TimeZone"}
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert json.loads(target["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert set(target["RetryPolicy"]) == {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}
    dlq = _getatt(target["DeadLetterConfig"]["Arn"])
    role = _getatt(target["RoleArn"])
    assert role not in {"DailyTickRole", "SchedulerRole"}, "the schedule has its own invoke role"
    _assert_trusted_by_scheduler_of_this_account(role)
    assert _allows(role, "lambda:InvokeFunction", {"Fn::GetAtt": ["DailyTickFunction", "Arn"]})
    assert _allows(role, "sqs:SendMessage", {"Fn::GetAtt": [dlq, "Arn"]})
    _assert_trusted_by_scheduler_of_this_account("SchedulerRole")


def test_the_rule_sends_exactly_the_three_moves_to_dispatch_with_retries_and_a_dlq():
    rules = _resources("AWS::Events::Rule")
    (name,) = rules
    rule = rules[name]["Properties"]
    assert rule.get("EventBusName", "default") == "default"
    assert rule["EventPattern"]["source"] == ["expiry-watcher"]
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


@pytest.mark.parametrize("function", ["DispatchFunction", "DailyTickFunction"])
def test_failed_async_invokes_end_in_a_dlq(function):
    config = _props(function)["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    queue = _getatt(on_failure["Destination"])
    assert _template()["Resources"][queue]["Type"] == "AWS::SQS::Queue"
    # Lambda delivers to the destination with the function's own role.
    assert _allows(_getatt(_props(function)["Role"]), "sqs:SendMessage", {"Fn::GetAtt": [queue, "Arn"]})


def test_every_dlq_and_every_function_has_an_alarm_on_the_alarm_topic():
    alarms = [a["Properties"] for a in _resources("AWS::CloudWatch::Alarm").values()]
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": "CostAlarmTopic"}]
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0
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
    assert set(tables) == {f"${{Prefix}}-{t}" for t in ("pings", "ack", "audit", "pings-archive", "state")}
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
    outputs = _template()["Outputs"]
    assert outputs["RawMimeBucket"]["Value"] == {"Ref": "RawMimeBucket"}


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
    assert dispatch["EW_ACTION_URL"] == {"Ref": "ActionUrl"}
    assert _template()["Parameters"]["ActionUrl"]["Default"] == ""
    assert dispatch["EW_SLACK_TOKEN_SECRET"] == {"Fn::Sub": "${Prefix}/slack/bot-token"}
    assert dispatch["POWERTOOLS_METRICS_NAMESPACE"] == "ExpiryWatcher"


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
    layer = _pins(LAYER_REQUIREMENTS.read_text().splitlines())
    assert not RUNTIME_PROVIDED & set(layer), "the layer must not ship boto3/botocore/s3transfer"
    # Direct dependencies: pyproject's, pinned identically, minus what the runtime provides.
    direct = {name: version for name, version in runtime.items() if name not in RUNTIME_PROVIDED}
    assert {name: layer.get(name) for name in direct} == direct
    # Everything else: exactly the rest of what uv.lock installs for them, at the locked versions.
    closure = _lock_closure(set(direct))
    assert set(layer) == set(closure) - RUNTIME_PROVIDED
    for name, version in layer.items():
        assert version in closure[name], f"{name}=={version} but uv.lock has {sorted(closure[name])}"


def test_layer_is_built_by_its_makefile_for_arm64():
    layer = _template()["Resources"]["SharedLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/shared"
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    makefile = LAYER_MAKEFILE.read_text()
    assert re.search(r"^build-SharedLayer:", makefile, re.M)
    assert "manylinux2014_aarch64" in makefile and "--python-version 3.13" in makefile
    assert "--only-binary=:all:" in makefile
    for kept in ("sheets.v4.json", "drive.v3.json", "calendar.v3.json"):
        assert kept in makefile
