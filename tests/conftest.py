"""Fixtures shared by every test folder: AWS on moto, the tables as template.yaml declares them, the
bundled example. Each folder's own conftest.py adds what only its tests use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from ew_local.cloud import LocalCloud, local_aws
from ew_local.tables import create_tables
from opskit import slack

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "acme"
EVENTS = ROOT / "events"


@pytest.fixture
def example_dir() -> Path:
    return EXAMPLE


@pytest.fixture(autouse=True)
def slack_retries_without_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack clients made during a test retry a 500 or a refused connection at once: the retries still
    happen (and are asserted), only the real seconds of backoff are skipped. Production waits
    `opskit.slack.RETRY_INTERVAL` as written."""
    monkeypatch.setattr(slack, "RETRY_INTERVAL", FixedValueRetryIntervalCalculator(0))


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials in us-east-1 and every AWS call served in-process by moto (a fresh account for
    each test)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with local_aws():
        yield


@pytest.fixture
def dynamodb(moto_aws: None) -> Any:
    """A DynamoDB client on moto with every table template.yaml declares (ew-pings, ew-ack, ...)."""
    client = boto3.client("dynamodb")
    create_tables(client)
    return client


@pytest.fixture
def cloud(request: pytest.FixtureRequest) -> Iterator[LocalCloud]:
    """The real handlers on a LocalCloud (moto, fake Slack, fake Google) with the test module's SETTINGS
    (Parameter Store values; London time when it has none) and, when the module has a SHEET, that sheet
    mirrored as drive-sync would."""
    settings = getattr(request.module, "SETTINGS", {"timezone": "Europe/London"})
    sheet = getattr(request.module, "SHEET", None)
    with LocalCloud(settings) as local:
        if sheet is not None:
            local.mirror(sheet.encode())
        yield local
