"""Pooled PostgreSQL connections that the server dropped: found before use when idle, and
reported as a retryable disconnect (never a hang, never a poisoned pool) when busy."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from switchboard_shared import db
from switchboard_shared.failures import FailureClass, classify
from switchboard_shared.testsupport import pg_database

pytestmark = pytest.mark.integration


@pytest.fixture
def pg() -> Iterator[tuple[Engine, str]]:
    with pg_database() as url:
        engine = db.create_db_engine(url)
        try:
            yield engine, url
        finally:
            engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("select pg_backend_pid()")).scalar_one())


def terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("select pg_terminate_backend(%s)", (pid,))


def test_a_connection_dropped_while_idle_is_replaced_before_use(
    pg: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, url = pg
    first = backend_pid(engine)
    terminate(url, first)
    # Age the pooled connection past the idle threshold instead of sleeping through it.
    monkeypatch.setattr(time, "monotonic", lambda real=time.monotonic: real() + 60)

    assert backend_pid(engine) != first


def test_a_connection_dropped_while_busy_fails_once_as_a_retryable_database_error(
    pg: tuple[Engine, str],
) -> None:
    engine, url = pg
    terminate(url, backend_pid(engine))

    with pytest.raises(OperationalError) as failure:
        backend_pid(engine)
    assert failure.value.connection_invalidated
    assert classify(failure.value) is FailureClass.DATABASE
    assert backend_pid(engine) > 0  # the pool was refreshed: the next use just works
