"""The local runner's cloud (DESIGN.md §10): the real Lambda handlers wired to in-process AWS (moto)
and a local Slack stand-in, so the daily path runs on a laptop exactly as it runs on AWS.

What AWS would do between the functions is done here by hand, and only that: EventBridge delivers the
tick's events to an SQS queue (a rule target moto supports) that we drain into dispatch; one-off
Scheduler schedules are fired into dispatch when the simulated clock reaches them, then deleted
(their `ActionAfterCompletion: DELETE`).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import boto3
from aws_lambda_powertools import Metrics
from moto import mock_aws
from slack_sdk.signature import SignatureVerifier

from ew import runtime
from ew.daily_tick import REGISTRY_KEY, RULES_KEY, SOURCE, VOICE_KEY
from ew.store import ChainStore, create_tables
from ew_local.fake_google import FakeGoogle, service_account_info
from ew_local.fake_slack import FakeSlack
from opskit.table import Table, read_table

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
PREFIX = "ew"
SENDER = "watcher@acme.example"
LINK_SECRET = "local-link-signing-secret-0123456789"
ACTION_URL = "https://actions.local.example/"

NAMES = {
    "EW_PINGS_TABLE": f"{PREFIX}-pings",
    "EW_ACK_TABLE": f"{PREFIX}-ack",
    "EW_AUDIT_TABLE": f"{PREFIX}-audit",
    "EW_ARCHIVE_TABLE": f"{PREFIX}-pings-archive",
    "EW_STATE_TABLE": f"{PREFIX}-state",
    "EW_REGISTRY_BUCKET": f"{PREFIX}-registry-source-local",
    "EW_RULES_BUCKET": f"{PREFIX}-rules-source-local",
    "EW_CONFIG_PATH": "/ew/config/",
    "EW_SLACK_TOKEN_SECRET": "ew/slack/bot-token",
    "EW_LINK_SECRET": "ew/email/link-secret",
    "EW_SCHEDULE_GROUP": f"{PREFIX}-deferrals",
    "EW_DISPATCH_ARN": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{PREFIX}-dispatch",
    "EW_SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-scheduler",
    "EW_ACTION_URL": ACTION_URL,
    "EW_SLACK_SIGNING_SECRET": "ew/slack/signing-secret",
    "EW_DRIVE_SA_SECRET": "ew/drive/sa",
}
SIGNING_SECRET = "local-slack-signing-secret"
SHEET_ID = "local-registry-sheet"
SHEET_TAB = "Registry"
_AT = re.compile(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)")


@dataclass(frozen=True)
class LambdaContext:
    """The bits of the Lambda context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"


def load_handler(function: str) -> ModuleType:
    """`src/<function>/app.py` as its own module: every handler file is called app.py, as on Lambda."""
    path = ROOT / "src" / function / "app.py"
    name = f"ew_handler_{function}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _environment(slack_url: str, google_url: str, quiet_logs: bool) -> dict[str, str]:
    values = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "MOTO_ACCOUNT_ID": ACCOUNT,
        "POWERTOOLS_SERVICE_NAME": "expiry-watcher",
        "POWERTOOLS_METRICS_NAMESPACE": "ExpiryWatcher",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "EW_SLACK_API_URL": slack_url,
        "EW_GOOGLE_API_URL": google_url,
        # Lambda names the running function; only ack-handler reads it (to invoke itself).
        "AWS_LAMBDA_FUNCTION_NAME": f"{PREFIX}-ack-handler",
        **NAMES,
    }
    if quiet_logs:
        values["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    return values


@contextmanager
def _patched_env(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _AsyncInvocations:
    """The one Lambda API call the functions make: invoking themselves with InvocationType=Event."""

    def __init__(self, queue: list[dict[str, Any]]):
        self.queue = queue

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        if InvocationType != "Event":
            raise NotImplementedError("the local runner only runs asynchronous self-invocations")
        self.queue.append(json.loads(Payload))
        return {"StatusCode": 202}


class LocalCloud:
    """Use as a context manager: `with LocalCloud(settings) as cloud: ...`."""

    def __init__(
        self,
        settings: Mapping[str, str],
        slack_users: Mapping[str, str] | None = None,
        quiet_logs: bool = True,
    ):
        self.settings = dict(settings)
        self.slack = FakeSlack(dict(slack_users or {}))
        self.google = FakeGoogle()
        self.quiet_logs = quiet_logs
        self._stack = ExitStack()
        self.tasks_run: list[dict[str, Any]] = []
        self.pending_tasks: list[dict[str, Any]] = []  # asynchronous invocations not yet run

    def __enter__(self) -> LocalCloud:
        self._stack.enter_context(self.slack)
        self._stack.enter_context(self.google)
        env = _environment(self.slack.url, self.google.url, self.quiet_logs)
        self._stack.enter_context(_patched_env(env))
        self._stack.enter_context(mock_aws())
        runtime.reset()
        self._stack.callback(runtime.reset)
        # moto would run an asynchronous invocation in Docker: ack-handler's self-invocations wait here
        # until run_tasks() hands them to the handler, as Lambda would a moment later.
        runtime.use_client("lambda", _AsyncInvocations(self.pending_tasks))
        self._stack.callback(runtime.use_client, "lambda", None)
        self._provision()
        self.tick_handler = load_handler("daily_tick").handler
        self.dispatch_handler = load_handler("dispatch").handler
        self.ack_handler_module = load_handler("ack_handler")
        self.ack_handler = self.ack_handler_module.handler
        for name in ("tick_handler", "dispatch_handler", "ack_handler"):
            setattr(self, name, forgetting_metrics(getattr(self, name)))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # -- provisioning: what `sam deploy` and the operator's setup steps create -----------------------

    def _provision(self) -> None:
        self.s3 = boto3.client("s3")
        self.dynamodb = boto3.client("dynamodb")
        self.scheduler = boto3.client("scheduler")
        self.sqs = boto3.client("sqs")
        events = boto3.client("events")
        create_tables(
            self.dynamodb,
            NAMES["EW_PINGS_TABLE"],
            NAMES["EW_ACK_TABLE"],
            NAMES["EW_ARCHIVE_TABLE"],
            NAMES["EW_AUDIT_TABLE"],
            NAMES["EW_STATE_TABLE"],
        )
        for bucket in (NAMES["EW_REGISTRY_BUCKET"], NAMES["EW_RULES_BUCKET"]):
            self.s3.create_bucket(Bucket=bucket)
        ssm = boto3.client("ssm")
        defaults = {"sender": SENDER, "registry_sheet_id": SHEET_ID, "registry_sheet_tab": SHEET_TAB}
        for name, value in {**defaults, **self.settings}.items():
            ssm.put_parameter(Name=f"{NAMES['EW_CONFIG_PATH']}{name}", Value=value, Type="String")
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(Name=NAMES["EW_SLACK_TOKEN_SECRET"], SecretString="xoxb-local-demo-token")
        secrets.create_secret(Name=NAMES["EW_LINK_SECRET"], SecretString=LINK_SECRET)
        secrets.create_secret(Name=NAMES["EW_SLACK_SIGNING_SECRET"], SecretString=SIGNING_SECRET)
        secrets.create_secret(
            Name=NAMES["EW_DRIVE_SA_SECRET"], SecretString=json.dumps(service_account_info(self.google))
        )
        boto3.client("ses").verify_email_identity(EmailAddress=SENDER)
        self.scheduler.create_schedule_group(Name=NAMES["EW_SCHEDULE_GROUP"])
        # The template's rule targets dispatch; moto cannot invoke a Lambda target, so the same
        # pattern targets a queue we drain into the real dispatch handler.
        queue_url = self.sqs.create_queue(QueueName="ew-moves")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(
            Name="ew-moves",
            EventPattern=json.dumps(
                {"source": [SOURCE], "detail-type": ["ew.first_alert", "ew.reminder", "ew.escalate"]}
            ),
        )
        events.put_targets(Rule="ew-moves", Targets=[{"Id": "dispatch", "Arn": queue_arn}])
        self.queue_url = queue_url
        self.store = ChainStore(
            self.dynamodb, NAMES["EW_PINGS_TABLE"], NAMES["EW_ACK_TABLE"], NAMES["EW_ARCHIVE_TABLE"]
        )

    def without_slack(self) -> None:
        """As if no Slack bot token were configured (dispatch then sends every alert by email)."""
        boto3.client("secretsmanager").delete_secret(
            SecretId=NAMES["EW_SLACK_TOKEN_SECRET"], ForceDeleteWithoutRecovery=True
        )
        runtime.reset()

    # -- what drive-sync would mirror ---------------------------------------------------------------

    def mirror(self, registry: bytes, rules: bytes | None = None, voice: bytes | None = None) -> None:
        """Put the docs where drive-sync would, and the sheet itself behind the Google stand-in."""
        table = read_table(registry, REGISTRY_KEY)
        self.google.add_sheet(
            SHEET_ID, SHEET_TAB, [table.header, *(_cells(table, r.values) for r in table.rows)]
        )
        self.s3.put_object(Bucket=NAMES["EW_REGISTRY_BUCKET"], Key=REGISTRY_KEY, Body=registry)
        for key, body in ((RULES_KEY, rules), (VOICE_KEY, voice)):
            if body is not None:
                self.s3.put_object(Bucket=NAMES["EW_RULES_BUCKET"], Key=key, Body=body)

    # -- the daily path -----------------------------------------------------------------------------

    def tick(self, now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Run daily-tick as its schedule would at `now`, then dispatch every event it emitted.
        Returns (the tick's report, each dispatch outcome)."""
        report = self.tick_handler(
            {"scheduled_time": now.isoformat()}, LambdaContext(f"{PREFIX}-daily-tick", 512)
        )
        return report, self._drain_events()

    def _drain_events(self) -> list[dict[str, Any]]:
        outcomes: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return outcomes
            for message in messages:
                outcomes.append(self.dispatch(json.loads(message["Body"])))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def dispatch(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.dispatch_handler(event, LambdaContext(f"{PREFIX}-dispatch"))

    def pending_schedules(self) -> list[tuple[datetime, str, dict[str, Any]]]:
        """(when, name, input) of every one-off schedule dispatch created and that has not fired."""
        group = NAMES["EW_SCHEDULE_GROUP"]
        pending = []
        for page in self.scheduler.get_paginator("list_schedules").paginate(GroupName=group):
            for summary in page["Schedules"]:
                schedule = self.scheduler.get_schedule(Name=summary["Name"], GroupName=group)
                match = _AT.fullmatch(schedule["ScheduleExpression"])
                assert match, schedule["ScheduleExpression"]
                tz = ZoneInfo(schedule["ScheduleExpressionTimezone"])
                when = datetime.fromisoformat(match.group(1)).replace(tzinfo=tz)
                pending.append((when, summary["Name"], json.loads(schedule["Target"]["Input"])))
        return sorted(pending, key=lambda p: p[0])

    def fire_schedules(self, until: datetime) -> list[dict[str, Any]]:
        """Fire the one-off schedules due by `until` into dispatch, then delete them."""
        outcomes = []
        for when, name, payload in self.pending_schedules():
            if when <= until:
                outcomes.append(self.dispatch(payload))
                self.scheduler.delete_schedule(Name=name, GroupName=NAMES["EW_SCHEDULE_GROUP"])
        return outcomes

    # -- clicks: the Function URL in front of ack-handler ---------------------------------------------

    def http(
        self,
        method: str,
        path: str,
        body: str = "",
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        base64_body: bool = False,
        run_tasks: bool = True,
    ) -> dict[str, Any]:
        """One request through the Function URL (payload format 2.0), then the asynchronous work it
        queued, as Lambda would run it a moment after the answer."""
        sent = base64.b64encode(body.encode()).decode() if base64_body else body
        event = function_url_event(method, path, sent, dict(headers or {}), dict(query or {}), base64_body)
        answer = self.ack_handler(event, LambdaContext(f"{PREFIX}-ack-handler"))
        if run_tasks:
            self.tasks_run.extend(self.run_tasks())
        return answer

    def slack_click(
        self,
        payload: Mapping[str, Any],
        *,
        retry: int | None = None,
        age_seconds: int = 0,
        secret: str | None = None,
        run_tasks: bool = True,
    ) -> dict[str, Any]:
        """A Slack interactivity request, signed as Slack signs it."""
        body = urlencode({"payload": json.dumps(payload)})
        timestamp = str(int(time.time()) - age_seconds)
        signature = SignatureVerifier(secret or SIGNING_SECRET).generate_signature(
            timestamp=timestamp, body=body
        )
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": timestamp,
            "x-slack-signature": signature or "",
        }
        if retry is not None:
            headers["x-slack-retry-num"] = str(retry)
            headers["x-slack-retry-reason"] = "http_timeout"
        return self.http("POST", "/slack/actions", body, headers, run_tasks=run_tasks)

    def run_tasks(self) -> list[dict[str, Any]]:
        results = []
        while self.pending_tasks:
            task = self.pending_tasks.pop(0)
            results.append(self.ack_handler(task, LambdaContext(f"{PREFIX}-ack-handler")))
        return results

    def sheet_rows(self) -> list[list[str]]:
        return self.google.rows(SHEET_ID, SHEET_TAB)

    # -- what the user would see --------------------------------------------------------------------

    def sent_emails(self) -> list[dict[str, Any]]:
        """Every email SES accepted, as moto recorded it (raw MIME in `raw_data`)."""
        from moto.ses.models import ses_backends

        backend = ses_backends[ACCOUNT][REGION]
        return [{"source": m.source, "destinations": m.destinations, "raw_data": m.raw_data}
                for m in backend.sent_messages]  # fmt: skip


def forgetting_metrics(handler: Callable[..., Any]) -> Callable[..., Any]:
    """The handler, forgetting its metrics after each run. The local cloud disables metrics, and a
    disabled Powertools Metrics never flushes, so the values pile up across runs; at 100 values of one
    metric Powertools prints the set anyway, into `ew simulate --json`'s output."""

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                # A run that adds no metric (most clicks) makes Powertools warn on stderr; on Lambda
                # that goes to the log, here it would land in the middle of the demo's output.
                warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
                return handler(*args, **kwargs)
        finally:
            Metrics().clear_metrics()  # one metric set, shared by every Metrics instance

    return run


def _cells(table: Table, values: Mapping[str, str]) -> list[str]:
    return [values.get(column, "") for column in table.columns]


def function_url_event(
    method: str, path: str, body: str, headers: dict[str, str], query: dict[str, str], is_base64: bool
) -> dict[str, Any]:
    """A Lambda Function URL request event (payload format 2.0), as AWS delivers it."""
    headers = {"host": "abcdefghij.lambda-url.us-east-1.on.aws", "user-agent": "Slackbot 1.0", **headers}
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query),
        "headers": {name.lower(): value for name, value in headers.items()},
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": headers["host"],
            "domainPrefix": "abcdefghij",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": headers["user-agent"],
            },
            "requestId": "local",
            "routeKey": "$default",
            "stage": "$default",
            "time": "24/Nov/2026:09:00:00 +0000",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }
