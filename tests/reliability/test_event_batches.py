"""A service consuming its events queue in batches (ADR 0022), across real worker processes:
Redis with SQLite and RabbitMQ with PostgreSQL."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator

import pytest
from bus_cluster import PAIRINGS, BusCluster, bus_cluster
from switchboard_shared.direct import send_to_queue
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.runtime import ServiceDefinition
from switchboard_shared.settings import ServiceSettings
from switchboard_shared.testsupport import WorkerProcess, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
SERVICE = "batches"
VISIBILITY_TIMEOUT_S = 10  # a killed worker's unacked Redis messages come back after this
IDEMPOTENT = "batches-idem"  # the effects of the probe's idempotent handler (no inbox row)


@pytest.fixture(scope="module", **PAIRINGS)
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BusCluster]:
    broker, database = request.param
    # A killed worker's unacked Redis messages come back after this, not after 2 hours.
    env = {"SWITCHBOARD_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S)}
    scratch = tmp_path_factory.mktemp(broker)
    with bus_cluster(broker, database, scratch, services=(SERVICE,), env=env) as running:
        yield running


def probe() -> str:
    return f"b-{uuid.uuid4().hex[:10]}"


def worker(cluster: BusCluster) -> WorkerProcess:
    return cluster.workers[SERVICE]


def handled_once(cluster: BusCluster, probe_id: str) -> bool:
    """Both handlers' effects are there, once each."""
    return (
        cluster.effects(SERVICE, probe_id, by=SERVICE) == 1
        and cluster.effects(SERVICE, probe_id, by=IDEMPOTENT) == 1
    )


def test_events_are_handled_in_batches_not_as_celery_tasks(cluster: BusCluster, producer) -> None:  # type: ignore[no-untyped-def]
    probes = [cluster.publish(producer, probe()) for _ in range(60)]

    wait_until(lambda: all(handled_once(cluster, p) for p in probes), 60)
    assert "Task event.probe-happened" not in worker(cluster).output()
    handlers = cluster.inbox_handlers(SERVICE)
    assert handlers["record"] >= 60, "the inbox handler claimed each event"
    assert handlers["record_idempotent"] == 0, "idempotent handlers keep no inbox rows"


def test_the_same_event_delivered_again_in_one_batch_or_later_has_one_effect(
    cluster: BusCluster, producer
) -> None:  # type: ignore[no-untyped-def]
    repeated = cluster.publish(producer, probe())
    wait_until(lambda: handled_once(cluster, repeated), 30)
    envelope = cluster.outbox_envelope(producer, repeated)

    producer.relay.publisher.publish([envelope, envelope, envelope])  # read as one batch
    after = cluster.publish(producer, probe())  # one queue, read in order: handled after them
    wait_until(lambda: handled_once(cluster, after), 30)

    assert handled_once(cluster, repeated)
    assert len(cluster.attempts(SERVICE, repeated)) == 1, "no duplicate reached the handler"


def test_a_poison_event_is_dead_lettered_and_its_batch_still_commits(
    cluster: BusCluster, producer
) -> None:  # type: ignore[no-untyped-def]
    good = [cluster.publish(producer, probe()) for _ in range(5)]
    bad = cluster.publish(producer, probe(), batches="invalid")
    good += [cluster.publish(producer, probe()) for _ in range(5)]

    wait_until(lambda: any(bad in d.reason for d in cluster.dead_letters(SERVICE)), 60)
    wait_until(lambda: all(handled_once(cluster, p) for p in good), 30)
    letter = next(d for d in cluster.dead_letters(SERVICE) if bad in d.reason)
    assert letter.classification == "validation"
    assert letter.task_name == "event.probe-happened"
    assert letter.message["args"][0]["data"]["probe_id"] == bad, "kept whole: replayable"
    assert cluster.effects(SERVICE, bad) == 0, "neither handler's effect of it was kept"


def test_a_database_outage_holds_the_batch_and_it_commits_when_it_returns(
    cluster: BusCluster, producer
) -> None:  # type: ignore[no-untyped-def]
    flaky = cluster.publish(producer, probe(), batches="db-down:2")
    others = [cluster.publish(producer, probe()) for _ in range(3)]

    wait_until(lambda: handled_once(cluster, flaky), 60)
    wait_until(lambda: all(handled_once(cluster, p) for p in others), 30)
    assert len(cluster.attempts(SERVICE, flaky)) == 3, "two failed tries, then the commit"
    assert not any(flaky in d.reason for d in cluster.dead_letters(SERVICE)), "never dead-lettered"
    assert "again in" in worker(cluster).output()


def test_a_malformed_message_is_dead_lettered_and_consumption_goes_on(
    cluster: BusCluster, producer
) -> None:  # type: ignore[no-untyped-def]
    client = cluster.ops_client  # a client that is no service: the broker, nothing else
    send_to_queue(client, "event.probe-happened", f"{SERVICE}.events", args=["not an envelope"])

    wait_until(
        lambda: any("invalid event message" in d.reason for d in cluster.dead_letters(SERVICE)), 30
    )
    after = cluster.publish(producer, probe())
    cluster.wait_effects(SERVICE, after)


def test_liveness_probes_reach_the_batch_consumer(cluster: BusCluster) -> None:
    cluster.wait_live(SERVICE, [f"{SERVICE}.events"])


def test_worker_killed_mid_batch_redelivers_and_the_effect_happens_once(
    cluster: BusCluster, producer
) -> None:  # type: ignore[no-untyped-def]
    hung = cluster.publish(producer, probe(), batches="hang")
    marker = cluster.scratch / f"{hung}.hung"
    wait_until(marker.exists, 30)
    os.killpg(worker(cluster).process.pid, signal.SIGKILL)  # the whole worker, mid-transaction
    worker(cluster).process.wait(10)

    cluster.start(SERVICE)  # unacked: redelivered (Redis after its visibility timeout)
    wait_until(lambda: handled_once(cluster, hung), 60)
    time.sleep(1.0)
    assert handled_once(cluster, hung), "one effect of each handler, inbox or idempotent"
    assert len(cluster.attempts(SERVICE, hung)) == 2, "redelivered once after the kill"


@pytest.mark.slow  # a worker killed once per delivery up to the bound: a long fault run
@pytest.mark.timeout(420)
def test_an_event_that_kills_the_worker_is_dead_lettered_past_the_delivery_bound(
    cluster: BusCluster, producer
) -> None:  # type: ignore[no-untyped-def]
    poison = cluster.publish(producer, probe(), batches="crash")
    innocent = [cluster.publish(producer, probe()) for _ in range(3)]

    restarts = 0

    def dead_lettered() -> bool:
        nonlocal restarts
        if worker(cluster).process.poll() is not None:  # killed by the poison: start it again
            os.killpg(worker(cluster).process.pid, signal.SIGKILL)  # and its pool children
            if restarts == 0:  # once, the event is due as the worker connects (its first scan)
                time.sleep(VISIBILITY_TIMEOUT_S + 1)
            restarts += 1
            cluster.start(SERVICE)  # Redis gives unacked messages back after its timeout
        return any("poison" in d.reason for d in cluster.dead_letters(SERVICE))

    # Three deaths, each a worker boot (up to 30 s on a loaded machine), then kombu's next
    # restore scan. An event already due when a worker starts is restored by its Celery
    # consumer as it connects: that once dropped events (ADR 0006, addendum 2).
    wait_until(dead_lettered, 300, 0.5)
    letter = next(d for d in cluster.dead_letters(SERVICE) if "poison" in d.reason)
    assert letter.message["args"][0]["data"]["probe_id"] == poison
    assert letter.classification == "resource"
    assert len(cluster.attempts(SERVICE, poison)) == 3, "SWITCHBOARD_MAX_DELIVERIES=3 ran"
    wait_until(lambda: all(handled_once(cluster, p) for p in innocent), 60)
    after = cluster.publish(producer, probe())
    wait_until(lambda: handled_once(cluster, after), 30)
    assert worker(cluster).process.poll() is None, "consumption goes on"


def test_a_service_whose_handler_calls_an_adapter_cannot_batch() -> None:
    """A split batch runs handlers again; a mail or a charge is not in the transaction."""
    from probe_common import ProbeHappened
    from switchboard_shared.celery_app import create_service_app

    registry = HandlerRegistry()

    def mail_it(event: ProbeHappened, uow: object, mailer: object) -> None: ...

    registry.on(ProbeHappened)(mail_it)
    definition = ServiceDefinition(
        name="unsafe",
        command_queues=["unsafe.normal"],
        registry=registry,
        settings=ServiceSettings(database_url="sqlite://"),
        batch_events=True,
    )
    with pytest.raises(ValueError, match=r"ask for adapters: .*mail_it.*\['mailer'\]"):
        create_service_app(definition)
