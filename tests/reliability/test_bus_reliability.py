"""The bus under faults, across real worker processes, on Redis and on RabbitMQ.

Each broker is paired with a database so both databases carry the whole suite:
Redis with SQLite, RabbitMQ with PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from bus_cluster import PAIRINGS, BusCluster, bus_cluster, proxy_for, via_proxy
from celery import Celery
from celery.events.receiver import EventReceiver
from switchboard_shared.direct import send_to_queue
from switchboard_shared.testsupport import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module", **PAIRINGS)
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BusCluster]:
    broker, database = request.param
    with bus_cluster(broker, database, tmp_path_factory.mktemp(broker)) as running:
        yield running


def probe() -> str:
    return f"p-{uuid.uuid4().hex[:10]}"


def test_event_is_handled_by_every_subscriber_and_no_other(cluster: BusCluster, producer) -> None:  # type: ignore[no-untyped-def]
    probe_id = cluster.publish(producer, probe())
    cluster.wait_effects("alpha", probe_id)
    cluster.wait_effects("beta", probe_id)
    time.sleep(1.0)
    assert cluster.effects("alpha", probe_id) == 1
    assert cluster.effects("beta", probe_id) == 1
    assert cluster.effects("gamma", probe_id) == 0
    assert "probe-happened" not in cluster.workers["gamma"].output()


def test_same_event_delivered_twice_has_one_effect(cluster: BusCluster, producer) -> None:  # type: ignore[no-untyped-def]
    probe_id = probe()
    cluster.publish(producer, probe_id)
    cluster.wait_effects("alpha", probe_id)
    envelope = cluster.outbox_envelope(producer, probe_id)
    producer.relay.publisher.publish([envelope, envelope])
    wait_until(lambda: cluster.workers["alpha"].output().count(envelope["id"]) >= 3, 30)
    wait_until(lambda: cluster.workers["beta"].output().count(envelope["id"]) >= 3, 30)
    assert cluster.effects("alpha", probe_id) == 1
    assert cluster.effects("beta", probe_id) == 1
    assert len(cluster.attempts("alpha", probe_id)) == 1, "the duplicate never reached the handler"


def test_broker_down_at_commit_events_are_delivered_after_it_returns(cluster: BusCluster) -> None:
    proxy = proxy_for(cluster.broker_url)
    runtime = cluster.producer(via_proxy(cluster.broker_url, proxy.port))
    proxy.stop()
    probes = [probe() for _ in range(5)]
    started = time.monotonic()
    for probe_id in probes:
        cluster.publish(runtime, probe_id)
    assert time.monotonic() - started < 30, "a down broker must not stall commits"
    assert runtime.relay.pending_count() == len(probes)
    assert all(cluster.effects("alpha", p) == 0 for p in probes)

    proxy.start()
    assert runtime.relay.sweep() == len(probes)
    for probe_id in probes:
        cluster.wait_effects("alpha", probe_id)
        cluster.wait_effects("beta", probe_id)
    assert runtime.relay.pending_count() == 0
    assert [cluster.effects("alpha", p) for p in probes] == [1] * len(probes)
    proxy.stop()


def test_worker_killed_mid_handler_redelivers_and_the_effect_happens_once(
    cluster: BusCluster, producer
) -> None:  # type: ignore[no-untyped-def]
    probe_id = cluster.publish(producer, probe(), alpha="hang_once")
    pid_file = cluster.scratch / f"alpha-{probe_id}.pid"
    wait_until(pid_file.exists, 30)
    child = int(pid_file.read_text())
    assert child in cluster.workers["alpha"].children()
    os.kill(child, signal.SIGKILL)

    cluster.wait_effects("alpha", probe_id, timeout=60)
    time.sleep(1.0)
    assert cluster.effects("alpha", probe_id) == 1
    assert len(cluster.attempts("alpha", probe_id)) == 2, "redelivered exactly once"
    assert cluster.effects("beta", probe_id) == 1
    assert len(cluster.attempts("beta", probe_id)) == 1


def test_message_that_keeps_killing_the_worker_is_dead_lettered_after_bounded_deliveries(
    cluster: BusCluster, producer
) -> None:  # type: ignore[no-untyped-def]
    probe_id = cluster.publish(producer, probe(), alpha="crash")
    wait_until(lambda: any("poison" in d.reason for d in cluster.dead_letters("alpha")), 90)
    letter = next(d for d in cluster.dead_letters("alpha") if "poison" in d.reason)
    assert letter.deliveries == 4  # SWITCHBOARD_MAX_DELIVERIES=3 deliveries ran, the 4th is stopped
    assert letter.message["args"][0]["data"]["probe_id"] == probe_id
    assert len(cluster.attempts("alpha", probe_id)) == 3
    cluster.wait_effects("beta", probe_id)
    assert cluster.workers["alpha"].process.poll() is None, "the worker survives"


def test_validation_error_is_dead_lettered_at_once_with_the_reason(
    cluster: BusCluster, producer
) -> None:  # type: ignore[no-untyped-def]
    probe_id = cluster.publish(producer, probe(), alpha="invalid")
    wait_until(lambda: any(probe_id in d.reason for d in cluster.dead_letters("alpha")), 30)
    letter = next(d for d in cluster.dead_letters("alpha") if probe_id in d.reason)
    assert letter.classification == "validation"
    assert "is not acceptable to alpha" in letter.reason
    assert letter.task_name == "event.probe-happened"
    assert letter.message["args"][0]["data"]["probe_id"] == probe_id
    cluster.wait_effects("beta", probe_id)
    time.sleep(1.0)
    assert len(cluster.attempts("alpha", probe_id)) == 1, "validation failures never retry"
    assert cluster.effects("alpha", probe_id) == 0


def test_network_error_retries_with_backoff_and_only_that_service_runs_again(
    cluster: BusCluster, producer
) -> None:  # type: ignore[no-untyped-def]
    probe_id = cluster.publish(producer, probe(), alpha="flaky:2")
    cluster.wait_effects("alpha", probe_id, timeout=60)
    cluster.wait_effects("beta", probe_id)
    time.sleep(1.0)
    attempts = cluster.attempts("alpha", probe_id)
    assert len(attempts) == 3
    first_gap, second_gap = attempts[1] - attempts[0], attempts[2] - attempts[1]
    assert first_gap >= 0.25, "retried after a backoff, not at once"
    assert second_gap > first_gap, "the backoff grows"
    assert len(cluster.attempts("beta", probe_id)) == 1, "the retry went to alpha's queue only"
    assert cluster.effects("alpha", probe_id) == 1
    assert cluster.effects("beta", probe_id) == 1


def test_malformed_envelope_and_unknown_event_type_are_dead_lettered_and_the_worker_keeps_running(
    cluster: BusCluster, producer
) -> None:  # type: ignore[no-untyped-def]
    client = cluster.ops_client  # a client that is no service: the broker, nothing else
    send_to_queue(client, "event.probe-happened", "alpha.events", args=["not an envelope"])
    send_to_queue(
        client,
        "event.probe-happened",
        "alpha.events",
        args=[{"type": "probe-happened", "data": {}}],
    )
    send_to_queue(client, "event.never-heard-of", "alpha.events", args=[{"type": "never-heard-of"}])

    def reasons() -> list[str]:
        return [d.reason for d in cluster.dead_letters("alpha")]

    wait_until(
        lambda: (
            sum(
                any(s in r for r in reasons())
                for s in ("must be an envelope", "correlationid", "never-heard-of")
            )
            == 3
        ),
        30,
    )
    unknown = next(d for d in cluster.dead_letters("alpha") if "never-heard-of" in d.reason)
    assert unknown.classification == "validation"
    assert "unknown" in unknown.reason

    probe_id = cluster.publish(producer, probe())
    cluster.wait_effects("alpha", probe_id)
    assert cluster.workers["alpha"].process.poll() is None


def test_liveness_proves_consumption_and_a_stalled_worker_turns_stale(cluster: BusCluster) -> None:
    queues = ["alpha.normal", "alpha.events"]

    def probe_and_read(max_age: float) -> list[bool]:
        return cluster.probe_liveness("alpha", queues, max_age, settle=1.5)

    wait_until(lambda: all(probe_and_read(5.0)), 30)

    worker = cluster.workers["alpha"]
    os.kill(worker.process.pid, signal.SIGSTOP)  # connected, but consuming nothing
    try:
        time.sleep(3.0)
        assert not any(probe_and_read(3.0)), "a worker that stopped consuming must show as stale"
    finally:
        os.kill(worker.process.pid, signal.SIGCONT)
    wait_until(lambda: all(probe_and_read(5.0)), 30)


def test_task_events_arrive_complete_and_batched_for_standard_receivers(
    cluster: BusCluster, producer
) -> None:  # type: ignore[no-untyped-def]
    """Flower and the ledger read task events with EventReceiver: every task's received,
    started and succeeded events arrive, packed several to a `task.multi` message."""
    app = Celery("monitor", broker=cluster.broker_url, set_as_current=False)
    events: list[dict[str, Any]] = []
    messages: list[int] = []

    class Counting(EventReceiver):  # type: ignore[misc]
        def _receive(self, body: Any, message: Any, *args: Any, **kwargs: Any) -> None:
            messages.append(len(body) if isinstance(body, list) else 1)
            super()._receive(body, message)

    with app.connection_for_read() as connection:
        receiver = Counting(connection, handlers={"*": events.append}, app=app)
        thread = threading.Thread(target=receiver.capture, kwargs={"wakeup": False}, daemon=True)
        thread.start()
        try:
            time.sleep(1.0)  # the receiver's queue is bound before anything is published
            probes = [cluster.publish(producer, probe()) for _ in range(10)]
            for probe_id in probes:
                cluster.wait_effects("alpha", probe_id)

            def alpha_events(kind: str) -> set[str]:
                return {
                    e["uuid"]
                    for e in events
                    if e["type"] == kind and e["hostname"].startswith("probe_alpha")
                }

            wait_until(lambda: len(alpha_events("task-succeeded")) >= 10, 30)
        finally:
            receiver.should_stop = True
            thread.join(10)
    succeeded = alpha_events("task-succeeded")
    assert succeeded <= alpha_events("task-received")
    assert succeeded <= alpha_events("task-started")
    assert all("clock" in e and "timestamp" in e for e in events)
    assert sum(messages) > 1.5 * len(messages), "task events are batched into task.multi messages"
