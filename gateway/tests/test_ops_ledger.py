"""The ledger's folding of task events, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ops_fakes import task_events
from switchboard_gateway.ledger.fold import parse_exception, parse_result, service_of_host
from switchboard_gateway.ledger.queries import TaskFilter, TaskLedger
from switchboard_gateway.ledger.reconcile import event_from_meta
from switchboard_gateway.models import Base
from switchboard_shared.db import create_all, create_db_engine, create_session_factory
from switchboard_shared.testsupport import pg_database

SERVICES = ["orders", "payments", "gateway"]


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskLedger]:
    def build(url: str) -> TaskLedger:
        engine = create_db_engine(url)
        create_all(engine, Base.metadata)
        return TaskLedger(create_session_factory(engine), SERVICES)

    if request.param == "sqlite":
        yield build(f"sqlite:///{tmp_path / 'gateway.db'}")
    else:
        with pg_database() as url:
            ledger = build(url)
            yield ledger
            ledger.session_factory.kw["bind"].dispose()


def test_a_task_moves_through_its_states_to_success(ledger: TaskLedger) -> None:
    events = task_events("orders.diagnose", runtime=0.4)
    task_id = events[0]["uuid"]
    ledger.record_submission(task_id, "orders.diagnose", "orders.normal")
    ledger.writer.apply(events[:2])
    assert ledger.get(task_id).state == "running"  # type: ignore[union-attr]
    ledger.writer.apply(
        [{**events[1], "type": "task-progress", "progress": 40.0, "current_step": "two"}]
    )
    row = ledger.get(task_id)
    assert row is not None and (row.progress, row.current_step) == (40.0, "two")
    ledger.writer.apply(events[2:])
    row = ledger.get(task_id)
    assert row is not None
    assert (row.state, row.progress, row.result, row.runtime) == (
        "succeeded",
        100.0,
        {"ok": True},
        0.4,
    )
    assert (row.queue, row.service, row.worker) == ("orders.normal", "orders", "orders@h")


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def test_the_reconcilers_success_never_erases_the_workers_runtime(ledger: TaskLedger) -> None:
    events = task_events("orders.diagnose", runtime=2.5)
    task_id, done = events[0]["uuid"], events[-1]["timestamp"]
    from_backend = event_from_meta(
        task_id, {"status": "SUCCESS", "result": {"ok": True}, "date_done": iso(done)}
    )
    assert from_backend is not None and "runtime" not in from_backend

    ledger.writer.apply(events)
    ledger.writer.apply([from_backend])  # folded after the worker's own task-succeeded
    row = ledger.get(task_id)
    assert row is not None and (row.state, row.runtime) == ("succeeded", 2.5)


def test_a_success_known_only_from_the_backend_has_a_runtime_from_its_start(
    ledger: TaskLedger,
) -> None:
    events = task_events("orders.diagnose", runtime=2.5)
    task_id, done = events[0]["uuid"], events[-1]["timestamp"]
    from_backend = event_from_meta(
        task_id, {"status": "SUCCESS", "result": {"ok": True}, "date_done": iso(done)}
    )
    assert from_backend is not None

    ledger.writer.apply([*events[:2], from_backend])
    row = ledger.get(task_id)
    assert row is not None and row.runtime == pytest.approx(2.5, abs=0.01)


def test_events_out_of_order_never_move_a_task_backwards(ledger: TaskLedger) -> None:
    events = task_events("payments.charge")
    ledger.writer.apply(list(reversed(events)))
    ledger.writer.apply(events[:1])  # a late duplicate of task-received
    row = ledger.get(events[0]["uuid"])
    assert row is not None and row.state == "succeeded" and row.started_at is not None


def test_a_dead_lettered_task_keeps_its_classification(ledger: TaskLedger) -> None:
    events = task_events("payments.charge", fail="provider-4xx")
    ledger.writer.apply(events)
    row = ledger.get(events[0]["uuid"])
    assert row is not None
    assert (row.state, row.classification, row.error_type) == (
        "dead_lettered",
        "provider-4xx",
        "ProviderError",
    )
    assert row.error_message == "card declined" and row.dead_letter_id == "dl1"


def test_an_event_delivery_gets_one_row_per_subscribing_service(ledger: TaskLedger) -> None:
    task_id = str(uuid.uuid4())
    for host in ("orders@h", "gateway-1a2b@h"):
        events = task_events("event.payment-succeeded", host=host)
        ledger.writer.apply([{**e, "uuid": task_id} for e in events])
    rows, total = ledger.search(TaskFilter(name="event.payment-succeeded"), 10, 0)
    assert total == 2 and {r.id for r in rows} == {f"{task_id}@orders", f"{task_id}@gateway"}
    assert ledger.get(task_id) is not None


def test_retries_are_counted_and_filters_and_counts_agree(ledger: TaskLedger) -> None:
    events = task_events("orders.create")
    task_id, now = events[0]["uuid"], events[1]["timestamp"] + 1
    retried = {
        "uuid": task_id,
        "type": "task-retried",
        "exception": "ConnectionError('down')",
        "timestamp": now,
    }
    received = {**events[0], "retries": 1, "timestamp": now + 0.1}
    ledger.writer.apply([*events[:2], retried])
    assert ledger.get(task_id).state == "retrying"  # type: ignore[union-attr]
    ledger.writer.apply([received])
    row = ledger.get(task_id)
    assert row is not None and (row.state, row.retries, row.error_type) == (
        "received",
        1,
        "ConnectionError",
    )
    ledger.writer.apply(task_events("orders.create", fail="validation"))
    assert ledger.count_by_state(TaskFilter(service="orders")) == {
        "received": 1,
        "dead_lettered": 1,
    }
    assert ledger.count(TaskFilter(state="dead_lettered", name="orders.create")) == 1


def test_worker_heartbeats_are_kept(ledger: TaskLedger) -> None:
    beat = {
        "type": "worker-heartbeat",
        "hostname": "payments-x@h",
        "active": 2,
        "processed": 9,
        "timestamp": time.time(),
    }
    ledger.writer.apply([beat, {**beat, "active": 1, "timestamp": beat["timestamp"] + 2}])
    from switchboard_gateway.ledger.models import WorkerRecord

    with ledger.session_factory() as session:
        worker = session.get(WorkerRecord, "payments-x@h")
    assert worker is not None and (worker.service, worker.active, worker.online) == (
        "payments",
        1,
        True,
    )


def test_parsers() -> None:
    assert parse_exception("ValueError('bad amount')") == ("ValueError", "bad amount")
    assert parse_exception("plain text") == (None, "plain text")
    assert parse_result("{'a': (1, 2)}") == {"a": [1, 2]}
    assert parse_result("<object at 0x1>") == "<object at 0x1>"
    assert service_of_host("switchboard_orders-1a2b@vm", frozenset(SERVICES)) == "orders"
    assert service_of_host("celery@vm", frozenset(SERVICES)) is None
    meta = {
        "status": "SUCCESS",
        "result": {"n": 1},
        "date_done": "2026-11-26T10:00:00+00:00",
        "worker": "w",
    }
    assert event_from_meta("t1", meta)["type"] == "task-succeeded"  # type: ignore[index]
    assert event_from_meta("t1", {"status": "PENDING"}) is None
