"""Wiring for the Lambdas: settings from Parameter Store, secrets, clients and tables from the
environment the template sets. Built once per container (cold start) and reused; `reset()` forgets it
(tests and the local runner, which start new in-process AWS stand-ins)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3

from ew.acking import AckDeps
from ew.audit import AuditLog
from ew.dispatching import DispatchDeps
from ew.settings import Settings
from ew.store import ChainStore
from ew.ticking import TickDeps
from opskit import config
from opskit.business_time import parse_quiet_hours
from opskit.dates import check_date_order
from opskit.once import OnceTable
from opskit.slack import SlackGateway, make_client

if TYPE_CHECKING:
    from opskit.sheets import SheetTable

log = logging.getLogger(__name__)


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise config.ConfigError(f"the environment variable {name} is not set (see template.yaml)")
    return value


def settings_from(values: dict[str, str], path: str = "/ew/config/") -> Settings:
    """Settings from Parameter Store values (names relative to the path). Bad values are refused with
    the parameter's full name, so the operator knows which one to fix."""
    unknown = sorted(set(values) - set(_PARSERS))
    if unknown:
        log.warning("ignoring unknown settings under %s: %s", path, ", ".join(unknown))
    kwargs: dict[str, Any] = {}
    for name, parse in _PARSERS.items():
        if name in values:
            try:
                kwargs[name] = parse(values[name].strip())
            except ValueError as exc:
                raise config.ConfigError(f"{path}{name}: {exc}") from None
    settings = Settings(**kwargs)
    try:
        settings.calendar()  # the timezone and holiday region are checked now, not at the first send
    except ValueError as exc:
        raise config.ConfigError(f"{path}timezone / {path}holidays: {exc}") from None
    return settings


def _date_order(value: str) -> str | None:
    check_date_order(value or None)
    return value or None


def _list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


_PARSERS: dict[str, Callable[[str], Any]] = {
    "timezone": str,
    "holidays": lambda v: v or None,
    "quiet_hours": parse_quiet_hours,
    "admin": lambda v: v or None,
    "date_order": _date_order,
    "sender": str,
    "digest_channel": str,
    "intake_channel": str,
    "summary_recipients": _list,
    "calendar_ids": _list,
    "registry_sheet_id": str,
    "registry_sheet_tab": str,
}


@cache
def settings() -> Settings:
    path = env("EW_CONFIG_PATH", "/ew/config/")
    # Every read goes through this module's clients: one boto3 session per container, not one per
    # Powertools provider (each new session re-reads botocore's endpoint data, ~50 ms).
    return settings_from(config.get_parameters_by_path(path, client=client("ssm")), path)


def _secret(name: str) -> str:
    return config.get_secret_text(name, client=client("secretsmanager"))


@cache
def client(service: str) -> Any:
    return boto3.client(service)


def chain_store() -> ChainStore:
    return ChainStore(client("dynamodb"), env("EW_PINGS_TABLE"), env("EW_ACK_TABLE"), env("EW_ARCHIVE_TABLE"))


def tick_deps() -> TickDeps:
    return TickDeps(
        s3=client("s3"),
        events=client("events"),
        store=chain_store(),
        registry_bucket=env("EW_REGISTRY_BUCKET"),
        rules_bucket=env("EW_RULES_BUCKET"),
        settings=settings(),
        source=env("EW_EVENT_SOURCE"),
    )


@cache
def slack(timeout: int = 5) -> SlackGateway | None:
    try:
        token = _secret(env("EW_SLACK_TOKEN_SECRET", "ew/slack/bot-token"))
    except config.ConfigError as exc:
        # Without a bot token every alert still goes out, by email; the log says why.
        log.error("Slack is off: %s", exc)
        return None
    base_url = os.environ.get("EW_SLACK_API_URL") or None
    return SlackGateway(make_client(token, base_url=base_url, timeout=timeout))


def link_secret() -> bytes | None:
    try:
        return _secret(env("EW_LINK_SECRET", "ew/email/link-secret")).encode()
    except config.ConfigError as exc:
        log.error("email action links are off: %s", exc)
        return None


def dispatch_deps() -> DispatchDeps:
    return DispatchDeps(
        store=chain_store(),
        s3=client("s3"),
        ses=client("ses"),
        scheduler=client("scheduler"),
        slack=slack(),
        settings=settings(),
        rules_bucket=env("EW_RULES_BUCKET"),
        link_secret=link_secret(),
        action_url=env("EW_ACTION_URL", ""),
        dispatch_arn=env("EW_DISPATCH_ARN"),
        scheduler_role_arn=env("EW_SCHEDULER_ROLE_ARN"),
        schedule_group=env("EW_SCHEDULE_GROUP", "default"),
        dlq_arn=os.environ.get("EW_DEFERRAL_DLQ_ARN") or None,
    )


def reset() -> None:
    LOCAL_TASKS.clear()
    signing_secret.cache_clear()
    settings.cache_clear()
    client.cache_clear()
    slack.cache_clear()
    config.clear_cache()


# -- ack-handler ---------------------------------------------------------------------------------------

# The local runner has no Lambda service to invoke asynchronously: with EW_LOCAL_ASYNC set, deferred
# tasks wait here until the runner hands them back to the handler, as Lambda would a moment later.
LOCAL_TASKS: list[dict[str, Any]] = []


def defer_task(task: dict[str, Any]) -> None:
    """Run `task` in an asynchronous invocation of this same function (Bolt's lazy listeners)."""
    if os.environ.get("EW_LOCAL_ASYNC"):
        LOCAL_TASKS.append(task)
        return
    client("lambda").invoke(
        FunctionName=env("AWS_LAMBDA_FUNCTION_NAME"),
        InvocationType="Event",
        Payload=json.dumps(task).encode(),
    )


@cache
def signing_secret() -> str:
    return _secret(env("EW_SLACK_SIGNING_SECRET", "ew/slack/signing-secret"))


def audit_log() -> AuditLog:
    return AuditLog(client("dynamodb"), env("EW_AUDIT_TABLE"))


def ack_deps() -> AckDeps:
    return AckDeps(
        store=chain_store(),
        audit=audit_log(),
        once=OnceTable(client("dynamodb"), env("EW_STATE_TABLE")),
        slack=slack(timeout=2),
        signing_secret=signing_secret(),
        link_secret=link_secret(),
        settings=settings(),
        defer=defer_task,
        clock=utc_now,
    )


def registry_sheet() -> SheetTable:
    """The registry sheet for write-backs (only the asynchronous tasks build a Google client)."""
    from opskit.sheets import SheetTable, sheets_service

    current = settings()
    if not current.registry_sheet_id:
        raise config.ConfigError(f"{env('EW_CONFIG_PATH', '/ew/config/')}registry_sheet_id is not set")
    info = json.loads(_secret(env("EW_DRIVE_SA_SECRET", "ew/drive/sa")))
    service = sheets_service(info, endpoint=os.environ.get("EW_GOOGLE_API_URL") or None)
    return SheetTable(service, current.registry_sheet_id, current.registry_sheet_tab or None)


def utc_now() -> datetime:
    return datetime.now(UTC)
