"""The local runner drops the handlers' (disabled) metrics after every invocation."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from ew_local.cloud import without_metrics


def test_disabled_metrics_never_pile_up_into_stdout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics = Metrics(namespace="ExpiryWatcher", service="expiry-watcher")

    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> str:
        metrics.add_metric(name="Moves_first_alert", unit=MetricUnit.Count, value=1)
        return "done"

    run = without_metrics(handler)
    # Powertools prints a metric set that reaches 100 values even when metrics are disabled.
    assert [run({}, None) for _ in range(150)] == ["done"] * 150
    assert capsys.readouterr().out == ""
