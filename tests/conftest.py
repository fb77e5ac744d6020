"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "acme"


@pytest.fixture
def example_dir() -> Path:
    return EXAMPLE


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials in us-east-1 and every AWS call served in-process by moto."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
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
