"""Fixtures shared by every test folder: AWS on moto, the tables as template.yaml declares them, the
bundled example. Each folder's own conftest.py adds what only its tests use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ew_local.cloud import local_aws
from ew_local.tables import create_tables

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "acme"
EVENTS = ROOT / "events"


@pytest.fixture
def example_dir() -> Path:
    return EXAMPLE


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
