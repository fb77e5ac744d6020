"""Wiring shared by the Lambdas: settings from Parameter Store, secrets, clients and tables from the
environment the template sets. Each handler builds the dependencies it uses from these pieces.

Settings and secrets are re-read through Powertools' cache (`opskit.config.MAX_AGE_SECONDS`), so an edit
in Parameter Store or a rotated secret takes effect within minutes without a redeploy, and a failed read
is never remembered. Clients are built once per container. `reset()` forgets everything (tests and the
local runner, which start new in-process AWS stand-ins).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from ew.audit import AuditLog
from ew.settings import Settings
from ew.store import ChainStore
from opskit import config
from opskit.business_time import parse_quiet_hours
from opskit.dates import check_date_order
from opskit.message_versions import MessageVersions
from opskit.slack import SlackGateway, make_client
from opskit.state import StateTable

if TYPE_CHECKING:
    from ew.activity import ActivityReader
    from opskit.google_api import GoogleSession
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
    "rules_doc_id": str,
    "voice_doc_id": str,
}


def settings() -> Settings:
    path = env("EW_CONFIG_PATH", "/ew/config/")
    # Every read goes through this module's clients: one boto3 session per container, not one per
    # Powertools provider (each new session re-reads botocore's endpoint data, ~50 ms).
    values = config.get_parameters_by_path(path, client=client("ssm"))
    key = (path, tuple(sorted(values.items())))
    cached = _SETTINGS.get(key)
    if cached is None:  # parsed again only when a value changed (the holiday check is not free)
        _SETTINGS.clear()
        cached = _SETTINGS[key] = settings_from(values, path)
    return cached


_PROSE_BEDROCK = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"})
_SETTINGS: dict[tuple[str, tuple[tuple[str, str], ...]], Settings] = {}
_CLIENTS: dict[str, Any] = {}
_STAND_INS: dict[str, Any] = {}  # survive reset(): see use_client


def secret(name: str) -> str:
    return config.get_secret_text(name, client=client("secretsmanager"))


def client(service: str, config: Any = None) -> Any:
    """One boto3 client per service and container; with `config` (a botocore Config kept as one object,
    e.g. shorter timeouts) a client of its own. A stand-in set with use_client serves either."""
    if service in _STAND_INS:
        return _STAND_INS[service]
    key = service if config is None else f"{service}#{id(config)}"
    if key not in _CLIENTS:
        _CLIENTS[key] = boto3.client(service, config=config)
    return _CLIENTS[key]


def use_client(service: str, stand_in: Any | None) -> None:
    """Serve `service` from `stand_in` (None: back to boto3): how the local runner gives the functions
    what moto cannot, such as a Lambda service that runs an asynchronous invocation."""
    if stand_in is None:
        _STAND_INS.pop(service, None)
    else:
        _STAND_INS[service] = stand_in


def slack(timeout: int = 5, *, quick: bool = False) -> SlackGateway | None:
    """The Slack gateway, or None without a bot token. `quick`: for a request someone is waiting on
    (Slack's 3 s for a click): one try per call, no waiting on a 429 or a 5xx (opskit.slack.make_client)."""
    try:
        token = secret(env("EW_SLACK_TOKEN_SECRET", "ew/slack/bot-token"))
    except config.ConfigError as exc:
        # Without a bot token every alert still goes out, by email; the log says why. Not remembered:
        # the next call reads the secret again.
        log.error("Slack is off: %s", exc)
        return None
    base_url = os.environ.get("EW_SLACK_API_URL") or None
    key = (token, base_url, timeout, quick)
    if key not in _SLACK:
        # A rotated token gets new clients (the old token's are dropped); the same token keeps its
        # clients, one per kind (ack-handler uses a short, quick one for clicks, the default for its tasks).
        for old in [k for k in _SLACK if k[:2] != (token, base_url)]:
            del _SLACK[old]
        _SLACK[key] = SlackGateway(make_client(token, base_url=base_url, timeout=timeout, quick=quick))
    return _SLACK[key]


_SLACK: dict[tuple[str, str | None, int, bool], SlackGateway] = {}


def link_secret() -> bytes | None:
    try:
        return secret(env("EW_LINK_SECRET", "ew/email/link-secret")).encode()
    except config.ConfigError as exc:
        log.error("email action links are off: %s", exc)
        return None


def reset() -> None:
    _SETTINGS.clear()
    _CLIENTS.clear()
    _SLACK.clear()
    config.clear_cache()


def defer_task(task: dict[str, Any]) -> None:
    """Run `task` in an asynchronous invocation of this same function (Bolt's lazy listeners)."""
    client("lambda").invoke(
        FunctionName=env("AWS_LAMBDA_FUNCTION_NAME"),
        InvocationType="Event",
        Payload=json.dumps(task).encode(),
    )


def signing_secret() -> str:
    return secret(env("EW_SLACK_SIGNING_SECRET", "ew/slack/signing-secret"))


def chain_store() -> ChainStore:
    return ChainStore(
        client("dynamodb"),
        env("EW_PINGS_TABLE"),
        env("EW_ACK_TABLE"),
        env("EW_ARCHIVE_TABLE"),
        heads_table=env("EW_HEADS_TABLE"),
    )


def activity_reader(*, with_sheet_renewals: bool = False) -> ActivityReader:
    """The pings (archived ones too) and acks the digest and the summary report on; with
    `with_sheet_renewals`, also the renewals typed into the sheet (the audit trail: the summary's)."""
    from ew.activity import ActivityReader

    return ActivityReader(
        client("dynamodb"),
        env("EW_PINGS_TABLE"),
        env("EW_ARCHIVE_TABLE"),
        env("EW_ACK_TABLE"),
        audit_table=env("EW_AUDIT_TABLE") if with_sheet_renewals else None,
    )


def audit_log() -> AuditLog:
    return AuditLog(client("dynamodb"), env("EW_AUDIT_TABLE"))


def state_table() -> StateTable:
    return StateTable(client("dynamodb"), env("EW_STATE_TABLE"))


def message_versions() -> MessageVersions:
    """The version each Slack card shows, kept beside the claims in the state table."""
    return MessageVersions(client("dynamodb"), env("EW_STATE_TABLE"))


def registry_sheet() -> SheetTable:
    """The registry sheet for write-backs (only the asynchronous tasks build a Google client)."""
    from opskit.sheets import SheetTable, sheets_service

    current = settings()
    if not current.registry_sheet_id:
        raise config.ConfigError(f"{env('EW_CONFIG_PATH', '/ew/config/')}registry_sheet_id is not set")
    info = json.loads(secret(env("EW_DRIVE_SA_SECRET", "ew/drive/sa")))
    service = sheets_service(info, endpoint=os.environ.get("EW_GOOGLE_API_URL") or None)
    return SheetTable(service, current.registry_sheet_id, current.registry_sheet_tab or None)


def utc_now() -> datetime:
    return datetime.now(UTC)


def google_session(scopes: list[str], timeout: float = 20) -> GoogleSession:
    """The service account from `ew/drive/sa`, signed in lazily for `scopes` (drive-sync, calendar-sync)."""
    from opskit.google_api import GoogleSession

    name = env("EW_DRIVE_SA_SECRET", "ew/drive/sa")
    try:
        info = json.loads(secret(name))
    except ValueError:
        raise config.ConfigError(
            f"the secret {name} is not JSON: paste the service account's JSON key file"
        ) from None
    if not isinstance(info, dict):
        raise config.ConfigError(f"the secret {name} is not a service account JSON key")
    return GoogleSession(info, scopes, endpoint=os.environ.get("EW_GOOGLE_API_URL") or None, timeout=timeout)


def bedrock_runtime() -> Any:
    """The Bedrock runtime client for short prose answers: it gives up quickly (two attempts, 30 s
    each) so a slow or throttled model falls back to plain text well inside the function's timeout."""
    return client("bedrock-runtime", _PROSE_BEDROCK)


def extraction_bedrock() -> Any:
    """The Bedrock runtime client for intake-parser's extraction (short timeouts, one retry: see
    ew.extraction.bedrock_config)."""
    from ew.extraction import bedrock_config

    return client("bedrock-runtime", bedrock_config())
