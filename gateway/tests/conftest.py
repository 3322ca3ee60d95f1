"""Fixtures for the gateway: an app wired with an in-memory recording sender."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gateway_fakes import API_KEY, OTHER_KEY, WEBHOOK_SECRETS, RecordingSender
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.main import create_app


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> GatewaySettings:
    return GatewaySettings(
        api_keys=f"{API_KEY},{OTHER_KEY}",
        broker_url="memory://",
        redis_url=redis_url,  # its own database: rate limits are per test
        data_dir=tmp_path,
        **WEBHOOK_SECRETS,
    )


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def client(settings: GatewaySettings, sender: RecordingSender) -> Iterator[TestClient]:
    with TestClient(create_app(settings, sender)) as test_client:
        yield test_client


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}
