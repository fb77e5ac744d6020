"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "acme"


@pytest.fixture
def example_dir() -> Path:
    return EXAMPLE
