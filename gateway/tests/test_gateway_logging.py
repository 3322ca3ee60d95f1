import logging

import pytest
from fastapi.testclient import TestClient


def test_each_request_is_logged_with_status_duration_and_correlation_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.gateway")

    client.get("/api/v1/health", headers={"X-Correlation-Id": "trace-7"})

    [record] = [r for r in caplog.records if getattr(r, "path", None) == "/api/v1/health"]
    assert record.name == "switchboard.gateway"
    assert record.method == "GET"  # type: ignore[attr-defined]
    assert record.status == 200  # type: ignore[attr-defined]
    assert record.correlation_id == "trace-7"  # type: ignore[attr-defined]
    assert record.duration_ms >= 0  # type: ignore[attr-defined]
