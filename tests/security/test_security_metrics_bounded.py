"""Item 4: a read-only key asks for 90 days of metrics on a large ledger (PostgreSQL).

Before rollups every task row of the window was loaded into Python at each call and each
Prometheus scrape. Now the rows the database hands back are bounded by the number of task
names, states and buckets, whatever the size of the ledger.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from security_gateway import gateway_client, gateway_settings
from sqlalchemy import Engine, event, text
from switchboard_gateway.ledger import rollups
from switchboard_shared.testsupport import pg_database, redis_database

READER = "reader-key-metrics"
NAMES = ["orders.create", "payments.charge", "email.send"]
PER_FILL = 12_000

FILL = text(
    """
    INSERT INTO task_ledger (id, task_id, name, service, queue, state, state_at, progress,
        retries, runtime, worker, classification, error_type, error_message,
        created_at, started_at, completed_at)
    SELECT :prefix || g, :prefix || g, (CAST(:names AS text[]))[1 + g % 3],
        split_part((CAST(:names AS text[]))[1 + g % 3], '.', 1), 'q',
        CASE WHEN g % 10 = 0 THEN 'dead_lettered' ELSE 'succeeded' END, 0, 100, g % 2,
        0.01 * (1 + g % 50), 'w@test',
        CASE WHEN g % 10 = 0 THEN 'provider-5xx' END, CASE WHEN g % 10 = 0 THEN 'E' END, NULL,
        now() - g * interval '10 minutes', now() - g * interval '10 minutes',
        now() - g * interval '10 minutes' + interval '1 second'
    FROM generate_series(1, CAST(:count AS bigint)) AS g
    """
)


@contextmanager
def rows_fetched(engine: Engine) -> Iterator[list[int]]:
    """Rows each statement handed back to Python while the block ran."""
    counts: list[int] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            counts.append(max(cursor.rowcount, 0))

    event.listen(engine, "after_cursor_execute", count)
    try:
        yield counts
    finally:
        event.remove(engine, "after_cursor_execute", count)


def fill(client: TestClient) -> Engine:
    """Another PER_FILL finished tasks, one every 10 minutes back to ~83 days, counted into
    the rollups as the migration counts an existing ledger."""
    runtime = client.app.state.store.get().runtime  # type: ignore[attr-defined]
    with runtime.session_factory() as session, session.begin():
        prefix = f"t{uuid.uuid4().hex[:6]}-"
        session.execute(FILL, {"prefix": prefix, "names": NAMES, "count": PER_FILL})
        rollups.rebuild(session)
    return runtime.engine  # type: ignore[no-any-return]


def attack(client: TestClient) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {READER}"}
    answers = {
        path: client.get(path, headers=auth)
        for path in (
            "/api/v1/metrics?hours=2160",
            "/api/v1/failures?hours=2160",
            "/api/v1/trends?hours=2160&bucket=1d",
            "/metrics",
        )
    }
    assert all(answer.status_code == 200 for answer in answers.values()), answers
    return {path: answer for path, answer in answers.items()}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[TestClient]:
    with redis_database() as redis_url, pg_database() as database_url:
        settings = gateway_settings(
            tmp_path, "memory://", redis_url, readonly_api_keys=READER, rate_limit_reads="off"
        )
        with gateway_client(settings, database_url) as client:
            yield client


def test_ninety_days_of_metrics_read_rollups_not_the_ledger(gateway: TestClient) -> None:
    engine = fill(gateway)
    with rows_fetched(engine) as small:
        answers = attack(gateway)
    metrics = answers["/api/v1/metrics?hours=2160"].json()["items"]
    assert sum(item["total"] for item in metrics) == PER_FILL
    failures = answers["/api/v1/failures?hours=2160"].json()
    assert failures["total"] == PER_FILL // 10
    assert failures["by_classification"] == {"provider-5xx": PER_FILL // 10}

    fill(gateway)  # the ledger doubles
    with rows_fetched(engine) as large:
        answers = attack(gateway)
    metrics = answers["/api/v1/metrics?hours=2160"].json()["items"]
    assert sum(item["total"] for item in metrics) == 2 * PER_FILL
    # What the database hands back is bounded by names × states × buckets, not by tasks.
    assert sum(large) < PER_FILL // 4, sum(large)
    assert sum(large) <= sum(small) * 1.2 + 50, (sum(small), sum(large))


def test_rollups_follow_the_writer_and_a_retried_task_counts_once(gateway: TestClient) -> None:
    ledger = gateway.app.state.ledger.get()  # type: ignore[attr-defined]
    task_id, now = str(uuid.uuid4()), time.time()
    base = {"uuid": task_id, "hostname": "orders@h", "name": "orders.create"}
    ledger.writer.apply([{**base, "type": "task-received", "timestamp": now}])
    ledger.writer.apply([{**base, "type": "task-failed", "timestamp": now + 1, "exception": "E()"}])
    dead = {"classification": "validation", "dead_letter_id": "d", "message": "bad"}
    ledger.writer.apply([{**base, "type": "task-dead-lettered", "timestamp": now + 2, **dead}])
    ledger.writer.apply([{**base, "type": "task-failed", "timestamp": now + 3}])  # folded again
    auth = {"Authorization": f"Bearer {READER}"}
    items = gateway.get("/api/v1/metrics?hours=1", headers=auth).json()["items"]
    assert [(i["name"], i["total"], i["by_state"]) for i in items] == [
        ("orders.create", 1, {"dead_lettered": 1})
    ]
    failures = gateway.get("/api/v1/failures?hours=1", headers=auth).json()
    assert failures["by_classification"] == {"validation": 1}
    assert failures["items"][0]["task_ids"] == [task_id]
