"""The local runner's cloud (DESIGN.md §10): the real Lambda handlers wired to in-process AWS (moto)
and a local Slack stand-in, so the daily path runs on a laptop exactly as it runs on AWS.

What AWS would do between the functions is done here by hand, and only that: EventBridge delivers the
tick's events to an SQS queue (a rule target moto supports) that we drain into dispatch; one-off
Scheduler schedules are fired into dispatch when the simulated clock reaches them, then deleted
(their `ActionAfterCompletion: DELETE`). `dispatch_async` runs an event as Lambda runs an asynchronous
invocation: a first try, two retries about 1 and 3 minutes later (on a simulated clock), then the
on-failure destination, the dispatch DLQ.
"""

from __future__ import annotations

import base64
import csv
import importlib.util
import io
import json
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock
from urllib.parse import quote_plus, urlencode
from zoneinfo import ZoneInfo

import boto3
import botocore.loaders
import botocore.session
from moto import mock_aws
from slack_sdk.signature import SignatureVerifier

from ew import runtime
from ew.daily_tick import REGISTRY_KEY, RULES_KEY, VOICE_KEY, event_source
from ew.store import ChainStore
from ew_local.fake_google import FakeGoogle, service_account_info
from ew_local.fake_slack import FakeSlack
from ew_local.tables import create_tables, table_names, table_specs
from opskit.table import read_cells

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
PREFIX = "ew"
SENDER = "watcher@acme.example"
LINK_SECRET = "local-link-signing-secret-0123456789"
ACTION_URL = "https://actions.local.example/"

NAMES = {
    **table_names(PREFIX),  # EW_PINGS_TABLE: ew-pings ..., as template.yaml names and passes them
    "EW_REGISTRY_BUCKET": f"{PREFIX}-registry-source-local",
    "EW_RULES_BUCKET": f"{PREFIX}-rules-source-local",
    "EW_RAW_MIME_BUCKET": f"{PREFIX}-raw-mime-local",
    "EW_SOURCE_BUCKET": f"{PREFIX}-source-pdfs-local",
    "EW_CONFIG_PATH": "/ew/config/",
    "EW_SLACK_TOKEN_SECRET": "ew/slack/bot-token",
    "EW_LINK_SECRET": "ew/email/link-secret",
    "EW_SCHEDULE_GROUP": f"{PREFIX}-deferrals",
    "EW_DISPATCH_ARN": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{PREFIX}-dispatch",
    "EW_SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-scheduler",
    "EW_ACTION_URL": ACTION_URL,
    "EW_SLACK_SIGNING_SECRET": "ew/slack/signing-secret",
    "EW_DRIVE_SA_SECRET": "ew/drive/sa",
    "EW_EVENT_SOURCE": event_source(PREFIX),
}
SIGNING_SECRET = "local-slack-signing-secret"
SHEET_ID = "local-registry-sheet"
SHEET_TAB = "Registry"
RULES_DOC_ID = "local-rules-doc"  # the Google Docs drive-sync mirrors (see publish())
VOICE_DOC_ID = "local-voice-doc"
_AT = re.compile(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)")
# As template.yaml's DispatchFunction has them (tests/unit/test_sam_template.py keeps them in step).
DISPATCH_TIMEOUT = 30  # seconds
DISPATCH_DLQ = f"{PREFIX}-dispatch-dlq"
ASYNC_RETRIES = 2  # EventInvokeConfig.MaximumRetryAttempts
# Lambda waits about a minute before the first retry of a failed asynchronous invocation and two more
# minutes before the second.
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=2))


class InvocationKilled(BaseException):
    """What Lambda does to an invocation that hits its timeout or runs out of memory: nothing in the
    function can catch it, so nothing it meant to do afterwards (give a claim back) happens. Raise it
    from a patched call to kill a handler mid-way."""


@dataclass
class AsyncInvocation:
    """How one asynchronous invocation went: each attempt's error (None for the one that succeeded),
    the handler's answer, and whether the event ended in the DLQ."""

    errors: list[str | None]
    outcome: dict[str, Any] | None
    dead_lettered: bool


@dataclass(frozen=True)
class LambdaContext:
    """The bits of the Lambda context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = "local"
    timeout_seconds: int = 30

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000  # the local runner's invocations take no simulated time


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


class _Stderr(io.TextIOBase):
    """Whatever sys.stderr is at the moment of writing (a test's capture, a redirect)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def keep_stdout(module: ModuleType) -> Callable[[dict[str, Any], Any], Any]:
    """`module.handler`, run so that stdout stays the local command's output (`ew simulate --json` is
    JSON lines only). On Lambda a handler's stdout is its log; here it goes to stderr: its Logger's
    lines, and its Metrics' EMF blobs. Metrics are also forgotten after each invocation: with
    POWERTOOLS_METRICS_DISABLED, Powertools never flushes them, so they pile up across invocations
    (the metric set is shared by every Metrics object) until one reaches 100 values, and then
    `add_metric` prints the whole set to stdout whatever the setting says."""
    logger = getattr(module, "logger", None)
    if logger is not None and isinstance(logger.registered_handler, logging.StreamHandler):
        logger.registered_handler.setStream(_Stderr())  # bound to sys.stdout when the module loaded
    metrics = getattr(module, "metrics", None)

    def run(event: dict[str, Any], context: Any) -> Any:
        try:
            with redirect_stdout(sys.stderr), warnings.catch_warnings():
                # Said by every invocation that adds no metric (a task, a refused click): not news here.
                warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
                return module.handler(event, context)
        finally:
            if metrics is not None:
                metrics.clear_metrics()

    return run


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


@cache
def _botocore_data() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


@contextmanager
def local_aws() -> Iterator[None]:
    """moto's `mock_aws`, with boto3's default session reading botocore's service data once per process.
    moto starts every mock with a fresh default session, which would parse a few MB of endpoint and
    service-model JSON again: about half a second for each test or local cloud."""
    with mock_aws():
        session = botocore.session.get_session()
        session.register_component("data_loader", _botocore_data())
        boto3.setup_default_session(botocore_session=session)
        yield


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
        self.now: datetime | None = None  # dispatch's clock while dispatch_async replays; None: real time

    def __enter__(self) -> LocalCloud:
        self._stack.enter_context(self.slack)
        self._stack.enter_context(self.google)
        env = _environment(self.slack.url, self.google.url, self.quiet_logs)
        self._stack.enter_context(_patched_env(env))
        self._stack.enter_context(local_aws())
        runtime.reset()
        self._stack.callback(runtime.reset)
        # moto would run an asynchronous invocation in Docker: ack-handler's self-invocations wait here
        # until run_tasks() hands them to the handler, as Lambda would a moment later.
        runtime.use_client("lambda", _AsyncInvocations(self.pending_tasks))
        self._stack.callback(runtime.use_client, "lambda", None)
        self._provision()
        self.tick_handler = keep_stdout(load_handler("daily_tick"))
        dispatch_module: Any = load_handler("dispatch")  # loaded by path: mypy cannot see its names
        self.dispatch_handler = keep_stdout(dispatch_module)
        # dispatch judges claims by its module's clock: ours, so dispatch_async can replay retry timing.
        self._stack.callback(setattr, dispatch_module, "clock", dispatch_module.clock)
        dispatch_module.clock = self._clock
        self.ack_handler_module = load_handler("ack_handler")
        self.ack_handler = keep_stdout(self.ack_handler_module)
        self.drive_sync_handler = keep_stdout(load_handler("drive_sync"))
        self.calendar_sync_handler = keep_stdout(load_handler("calendar_sync"))
        self.intake_handler = keep_stdout(load_handler("intake_parser"))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    # -- provisioning: what `sam deploy` and the operator's setup steps create -----------------------

    def _provision(self) -> None:
        self.s3 = boto3.client("s3")
        self.dynamodb = boto3.client("dynamodb")
        self.scheduler = boto3.client("scheduler")
        self.sqs = boto3.client("sqs")
        events = boto3.client("events")
        create_tables(self.dynamodb, table_specs(PREFIX))
        for bucket in (NAMES["EW_REGISTRY_BUCKET"], NAMES["EW_RULES_BUCKET"]):
            self.s3.create_bucket(Bucket=bucket)
            # As template.yaml has them: every write of a mirrored doc is a version.
            self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for bucket in (NAMES["EW_RAW_MIME_BUCKET"], NAMES["EW_SOURCE_BUCKET"]):
            self.s3.create_bucket(Bucket=bucket)
        ssm = boto3.client("ssm")
        defaults = {"sender": SENDER, "registry_sheet_id": SHEET_ID, "registry_sheet_tab": SHEET_TAB,
                    "rules_doc_id": RULES_DOC_ID, "voice_doc_id": VOICE_DOC_ID}  # fmt: skip
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
                {
                    "source": [NAMES["EW_EVENT_SOURCE"]],
                    "detail-type": ["ew.first_alert", "ew.reminder", "ew.escalate"],
                }
            ),
        )
        events.put_targets(Rule="ew-moves", Targets=[{"Id": "dispatch", "Arn": queue_arn}])
        self.queue_url = queue_url
        # Lambda's on-failure destination for dispatch (EventInvokeConfig in template.yaml).
        self.dlq_url = self.sqs.create_queue(QueueName=DISPATCH_DLQ)["QueueUrl"]
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
        # The cells as they are (blank rows left out), columns the watcher does not read included: a
        # write-back must find the sheet the person keeps, not a tidied copy.
        cells = read_cells(registry, REGISTRY_KEY)
        self.google.add_sheet(SHEET_ID, SHEET_TAB, [*cells[:1], *(row for row in cells[1:] if any(row))])
        self.s3.put_object(Bucket=NAMES["EW_REGISTRY_BUCKET"], Key=REGISTRY_KEY, Body=registry)
        for key, body in ((RULES_KEY, rules), (VOICE_KEY, voice)):
            if body is not None:
                self.s3.put_object(Bucket=NAMES["EW_RULES_BUCKET"], Key=key, Body=body)

    # -- drive-sync: the sheet and docs in Google, mirrored by the real handler ------------------------

    def publish(self, registry: bytes, rules: str | None = None, voice: str | None = None) -> None:
        """Put the registry sheet (CSV bytes, rows kept as they are, blank ones too) and the rules and
        voice docs in the Google stand-in, where drive-sync reads them; as someone editing them would."""
        text = registry.decode("utf-8-sig")
        self.google.add_sheet(SHEET_ID, SHEET_TAB, list(csv.reader(io.StringIO(text, newline=""))))
        if rules is not None:
            self.google.add_doc(RULES_DOC_ID, rules)
        if voice is not None:
            self.google.add_doc(VOICE_DOC_ID, voice)

    def publish_calendar(self, calendar_id: str, events: list[dict[str, Any]]) -> None:
        """Put events (as the Calendar API shows them) in a calendar of the Google stand-in."""
        for event in events:
            self.google.put_event(calendar_id, event)

    def drive_sync(self) -> dict[str, Any]:
        """One run of drive-sync, as its 15-minute schedule starts it."""
        result: dict[str, Any] = self.drive_sync_handler(
            {"scheduled_time": datetime.now(UTC).isoformat()},
            LambdaContext(f"{PREFIX}-drive-sync", 1024, timeout_seconds=120),
        )
        return result

    def calendar_sync(self) -> dict[str, Any]:
        """One run of calendar-sync, as its hourly schedule starts it."""
        result: dict[str, Any] = self.calendar_sync_handler(
            {"scheduled_time": datetime.now(UTC).isoformat()}, LambdaContext(f"{PREFIX}-calendar-sync")
        )
        return result

    def forward_mail(self, raw: bytes, key: str = "inbound/local-0001") -> dict[str, Any]:
        """What SES and S3 do with a forwarded mail: the raw MIME lands in the raw-mime bucket under
        the rule's prefix and S3 invokes intake-parser with its ObjectCreated event."""
        bucket = NAMES["EW_RAW_MIME_BUCKET"]
        self.s3.put_object(Bucket=bucket, Key=key, Body=raw)
        return self.intake(s3_created_event(bucket, key, len(raw)))

    def intake(self, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.intake_handler(
            event, LambdaContext(f"{PREFIX}-intake-parser", 512, timeout_seconds=60)
        )
        return result

    def source_file(self, uri: str) -> bytes:
        """A source file the card names as s3://bucket/key."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def versions(self, key: str) -> int:
        """How many times `key` was written to its source bucket (the buckets are versioned)."""
        bucket = (
            NAMES["EW_REGISTRY_BUCKET"]
            if key in (REGISTRY_KEY, "problems.json")
            else NAMES["EW_RULES_BUCKET"]
        )
        listed = self.s3.list_object_versions(Bucket=bucket, Prefix=key)
        return sum(1 for version in listed.get("Versions", []) if version["Key"] == key)

    def read_source(self, key: str) -> bytes | None:
        bucket = (
            NAMES["EW_REGISTRY_BUCKET"]
            if key in (REGISTRY_KEY, "problems.json")
            else NAMES["EW_RULES_BUCKET"]
        )
        try:
            return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except self.s3.exceptions.NoSuchKey:
            return None

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
        """Invoke dispatch with `event`: at `self.now` when set, else the moment the event was made
        (EventBridge and Scheduler deliver at once), so a replayed day runs on its own clock."""
        context = LambdaContext(f"{PREFIX}-dispatch", timeout_seconds=DISPATCH_TIMEOUT)
        if self.now is not None:
            return self.dispatch_handler(event, context)
        self.now = _made_at(event)
        try:
            return self.dispatch_handler(event, context)
        finally:
            self.now = None

    def dispatch_async(self, event: dict[str, Any], at: datetime | None = None) -> AsyncInvocation:
        """Invoke dispatch as EventBridge and Scheduler do (asynchronously), as Lambda would run it:
        the first try at `at` (default now), on an error or a kill a retry a minute later and another
        two minutes after that, then the event to the DLQ in Lambda's on-failure record format. The
        simulated clock moves; nothing sleeps."""
        start = at or datetime.now(UTC)
        moments = [start]
        for delay in RETRY_DELAYS[:ASYNC_RETRIES]:
            moments.append(moments[-1] + delay)
        errors: list[str | None] = []
        failure: BaseException | None = None
        try:
            for moment in moments:
                self.now = moment
                try:
                    outcome = self.dispatch(event)
                except (Exception, InvocationKilled) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    failure = exc
                    continue
                errors.append(None)
                return AsyncInvocation(errors, outcome, dead_lettered=False)
        finally:
            self.now = None
        assert failure is not None
        record = {
            "version": "1.0",
            "timestamp": moments[-1].astimezone(UTC).isoformat(),
            "requestContext": {
                "requestId": "local",
                "functionArn": f"{NAMES['EW_DISPATCH_ARN']}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": len(moments),
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {"errorType": type(failure).__name__, "errorMessage": str(failure)},
        }
        self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=json.dumps(record))
        return AsyncInvocation(errors, None, dead_lettered=True)

    def dead_letters(self) -> list[dict[str, Any]]:
        """The on-failure records waiting in the dispatch DLQ (left there, still visible)."""
        batch = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [json.loads(m["Body"]) for m in batch.get("Messages", [])]

    def dlq_depth(self) -> int:
        """Messages waiting in the dispatch DLQ: the queue attribute ApproximateNumberOfMessages, which
        CloudWatch publishes as ApproximateNumberOfMessagesVisible, the metric the DLQ's alarm watches."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

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

    @contextmanager
    def at(self, moment: datetime) -> Iterator[None]:
        """Run what follows as if it were `moment`: the handlers' clock (`ew.runtime.utc_now`) and the
        time Slack signs the clicks with. For the demo's clicks on its simulated days."""
        with mock.patch.object(runtime, "utc_now", lambda: moment.astimezone(UTC)):
            yield

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
        return self.slack_request(
            body, retry=retry, age_seconds=age_seconds, secret=secret, run_tasks=run_tasks
        )

    def slack_request(
        self,
        body: str,
        *,
        retry: int | None = None,
        age_seconds: int = 0,
        secret: str | None = None,
        run_tasks: bool = True,
    ) -> dict[str, Any]:
        """Any body POSTed to the interactivity URL, signed as Slack signs it (a signed body need not
        be a well-formed payload: the tests of what the handler does with odd ones start here)."""
        # Signed when the handlers think it is: the wall clock, or the moment `at()` set.
        timestamp = str(int(runtime.utc_now().timestamp()) - age_seconds)
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


def _made_at(event: dict[str, Any]) -> datetime | None:
    """When a move event was decided, or a deferral's schedule was due; None for anything else."""
    try:
        made = event["deliver_at"] if event.get("deferred") else event["detail"]["decided_at"]
        return datetime.fromisoformat(made)
    except (KeyError, TypeError, ValueError):
        return None


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


def s3_created_event(bucket: str, key: str, size: int) -> dict[str, Any]:
    """An S3 ObjectCreated:Put notification as Lambda receives it (keys URL-encoded, space as '+')."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AROAEXAMPLE:ses"},
                "requestParameters": {"sourceIPAddress": "10.0.0.1"},
                "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "local"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "intake-parser",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "sequencer": "0055AED6DCD90281E5",
                    },
                },
            }
        ]
    }


def textract_notice_event(job_id: str, status: str, topic_arn: str, tag: str = "") -> dict[str, Any]:
    """Textract's completion notice for StartDocumentTextDetection, as SNS delivers it to a Lambda."""
    message = {
        "JobId": job_id,
        "Status": status,
        "API": "StartDocumentTextDetection",
        "JobTag": tag,
        "Timestamp": int(datetime.now(UTC).timestamp() * 1000),
        "DocumentLocation": {"S3ObjectName": "", "S3Bucket": NAMES["EW_SOURCE_BUCKET"]},
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic_arn}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                    "TopicArn": topic_arn,
                    "Subject": None,
                    "Message": json.dumps(message),
                    "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {},
                },
            }
        ]
    }
