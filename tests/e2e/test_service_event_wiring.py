"""The five real services wired by events over a real broker: each handles what it
subscribes to and nothing else."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from celery import Celery
from switchboard_shared.commands import send_command
from switchboard_shared.contracts.orders import CreateOrder
from switchboard_shared.direct import send_to_queue
from switchboard_shared.testsupport import (
    WorkerProcess,
    provider_secrets,
    redis_database,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
SERVICES = ("orders", "payments", "reports", "email", "integrations")
WORKER_START_SECONDS = 120.0  # five workers importing at once on a loaded 2-core machine
ANSWER_SECONDS = 60.0


def start_workers(env: dict[str, str], data: Path) -> dict[str, WorkerProcess]:
    """Start every service's worker in parallel; if one fails, stop those that started."""
    workers = {s: WorkerProcess(f"switchboard_{s}.app", env, data / f"{s}.log") for s in SERVICES}
    with ThreadPoolExecutor(len(workers)) as pool:
        starts = [pool.submit(w.start, WORKER_START_SECONDS) for w in workers.values()]
    try:
        for started in starts:
            started.result()
    except BaseException:
        for worker in workers.values():
            worker.stop()
        raise
    return workers


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Celery, Path, dict[str, WorkerProcess]]]:
    data = tmp_path_factory.mktemp("platform")
    with redis_database() as broker:
        env = {
            "SWITCHBOARD_BROKER_URL": broker,
            "SWITCHBOARD_DATA_DIR": str(data),
            **provider_secrets(),
        }
        workers = start_workers(env, data)
        try:
            client = Celery("client", broker=broker, backend=broker, set_as_current=False)
            client.conf.update(task_serializer="json", accept_content=["json"])
            yield client, data, workers
        finally:
            for worker in workers.values():
                worker.stop()


def rows(db: Path, query: str) -> list[tuple[object, ...]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute(query).fetchall()
        except sqlite3.OperationalError:
            return []


def test_order_created_reaches_payments_and_reports_and_no_other_service(platform) -> None:  # type: ignore[no-untyped-def]
    client, data, workers = platform
    command = CreateOrder(
        order_id="ord_wiring_1",
        customer={"email": "buyer@example.com"},
        category="cnc-machining",
        region="eu-west",
        items=[{"sku": "bolt", "quantity": 3, "unit_amount": 1250}],
        currency="usd",
    )
    task_id = send_command(client, command)
    assert client.AsyncResult(task_id).get(timeout=ANSWER_SECONDS) == {
        "order_id": "ord_wiring_1",
        "status": "pending_payment",
    }

    payments = "select order_id, amount from payments"  # charging itself: test_order_to_cash
    wait_until(lambda: rows(data / "payments.db", payments), ANSWER_SECONDS)
    assert rows(data / "payments.db", payments) == [("ord_wiring_1", 3750)]
    wait_until(
        lambda: rows(data / "reports.db", "select metric, key, value from daily_facts"),
        ANSWER_SECONDS,
    )
    facts = {
        (m, k): v
        for m, k, v in rows(data / "reports.db", "select metric, key, value from daily_facts")
    }
    assert facts == {("orders_placed", ""): 1, ("order_value", "usd"): 3750}

    time.sleep(1.0)
    assert "order-created" not in workers["email"].output()
    assert rows(data / "email.db", "select * from inbox") == []
    # integrations hears every deliverable event (webhook endpoints may ask for any), but
    # with no endpoint registered it delivers nothing.
    assert rows(data / "integrations.db", "select * from webhook_messages") == []
    published = "select event_type, published_at is not null from outbox"
    wait_until(lambda: rows(data / "orders.db", published) == [("order-created", 1)], 10)


def test_invalid_command_is_dead_lettered_not_retried(platform) -> None:  # type: ignore[no-untyped-def]
    client, data, _ = platform
    task_id = send_to_queue(
        client, "orders.create", "orders.critical", args=[{"order_id": "x", "items": "nope"}]
    ).id
    with pytest.raises(Exception, match="validation"):
        client.AsyncResult(task_id).get(timeout=ANSWER_SECONDS)
    letters = rows(data / "orders.db", "select task_id, classification, reason from dead_letters")
    assert [(t, c) for t, c, _ in letters] == [(task_id, "validation")]
    assert "customer" in letters[0][2] and "items" in letters[0][2]
