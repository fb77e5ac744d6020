"""Fixtures shared by every test folder: AWS on moto, the tables as template.yaml declares them, the real
handlers on a LocalCloud, the bundled example, and Slack retries that do not really wait."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ew_local.cloud import LocalCloud

# The heavy imports (moto, boto3, the local runner) wait for the first fixture that needs them: pytest-xdist's
# controller process loads this file too and runs no test.

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "acme"


@pytest.fixture
def example_dir() -> Path:
    return EXAMPLE


@pytest.fixture(autouse=True)
def slack_retries_without_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack clients made during a test retry a 500 or a refused connection at once: the retries still
    happen (and are asserted), only the real seconds of backoff are skipped. Production waits
    `opskit.slack.RETRY_INTERVAL` as written."""
    from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

    from opskit import slack

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
    from ew_local.cloud import local_aws

    with local_aws():
        yield


class PowertoolsClock:
    """Moves the clock Powertools' parameter cache reads (`datetime.now()` in its base module), so a
    test can step past opskit.config.MAX_AGE_SECONDS without waiting."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        from aws_lambda_powertools.utilities.parameters import base

        self.offset = timedelta()
        clock = self

        class Shifted(datetime):
            @classmethod
            def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
                return datetime.now(tz) + clock.offset

        monkeypatch.setattr(base, "datetime", Shifted)

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def powertools_clock(monkeypatch: pytest.MonkeyPatch) -> PowertoolsClock:
    return PowertoolsClock(monkeypatch)


@pytest.fixture
def dynamodb(moto_aws: None) -> Any:
    """A DynamoDB client on moto with every table template.yaml declares (ew-pings, ew-ack, ...)."""
    import boto3

    from ew_local.tables import create_tables

    client = boto3.client("dynamodb")
    create_tables(client)
    return client


@pytest.fixture
def cloud(request: pytest.FixtureRequest) -> Iterator[LocalCloud]:
    """The real handlers on a LocalCloud (moto, fake Slack, fake Google) with the test module's SETTINGS
    (Parameter Store values; London time when it has none) and, when the module has a SHEET, that sheet
    mirrored as drive-sync would."""
    from ew_local.cloud import LocalCloud

    settings = getattr(request.module, "SETTINGS", {"timezone": "Europe/London"})
    sheet = getattr(request.module, "SHEET", None)
    with LocalCloud(settings) as local:
        if sheet is not None:
            local.mirror(sheet.encode())
        yield local
