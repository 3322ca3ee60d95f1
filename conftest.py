"""Fixtures every package's tests share: real PostgreSQL, SQLite, Redis and RabbitMQ."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from switchboard_shared.testsupport import pg_database, rabbit_vhost, redis_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each database test runs on SQLite (WAL) and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
    else:
        with pg_database() as url:
            yield url


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_database() as url:
        yield url


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each bus test runs on Redis and on RabbitMQ."""
    if request.param == "redis":
        with redis_database() as url:
            yield url
    else:
        with rabbit_vhost() as url:
            yield url
