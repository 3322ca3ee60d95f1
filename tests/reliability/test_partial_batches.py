"""A service that batches some event types and runs the rest as Celery tasks (ADR 0022,
addendum 4), across a real worker process: Redis with SQLite and RabbitMQ with PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from bus_cluster import PAIRINGS, BusCluster, bus_cluster
from probe_common import OtherHappened
from switchboard_shared.context import MessageContext
from switchboard_shared.runtime import ServiceRuntime
from switchboard_shared.testsupport import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
SERVICE = "mixed"
AS_TASK, IN_BATCH = "mixed-task", "mixed-batch"
QUEUES = [f"{SERVICE}.events", f"{SERVICE}.events.batched"]


@pytest.fixture(scope="module", **PAIRINGS)
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BusCluster]:
    broker, database = request.param
    with bus_cluster(
        broker, database, tmp_path_factory.mktemp(broker), services=(SERVICE,)
    ) as running:
        yield running


def publish_other(runtime: ServiceRuntime, probe_id: str) -> str:
    with runtime.uow(MessageContext.new(probe_id)) as uow:
        uow.publish(OtherHappened(probe_id=probe_id))
        uow.commit()
    return probe_id


def probe() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


def test_each_event_type_takes_its_own_path_and_has_one_effect(
    cluster: BusCluster, producer
) -> None:  # type: ignore[no-untyped-def]
    as_tasks = [cluster.publish(producer, probe()) for _ in range(10)]
    batched = [publish_other(producer, probe()) for _ in range(30)]

    def all_handled() -> bool:
        return all(cluster.effects(SERVICE, p, by=AS_TASK) == 1 for p in as_tasks) and all(
            cluster.effects(SERVICE, p, by=IN_BATCH) == 1 for p in batched
        )

    wait_until(all_handled, 60)
    output = cluster.workers[SERVICE].output()
    assert "Task event.probe-happened" in output, "one Celery task per probe-happened"
    assert "Task event.other-happened" not in output, "other-happened went to the batches"
    assert cluster.effects(SERVICE, as_tasks[0], by=IN_BATCH) == 0
    assert cluster.effects(SERVICE, batched[0], by=AS_TASK) == 0
    assert cluster.inbox_handlers(SERVICE)["record_in_batch"] >= 30, "claimed in the inbox"


def test_a_batched_event_delivered_again_has_one_effect(cluster: BusCluster, producer) -> None:  # type: ignore[no-untyped-def]
    repeated = publish_other(producer, probe())
    wait_until(lambda: cluster.effects(SERVICE, repeated, by=IN_BATCH) == 1, 30)
    envelope = cluster.outbox_envelope(producer, repeated)

    producer.relay.publisher.publish([envelope, envelope])
    after = publish_other(producer, probe())  # the same queue, read in order
    wait_until(lambda: cluster.effects(SERVICE, after, by=IN_BATCH) == 1, 30)

    assert cluster.effects(SERVICE, repeated, by=IN_BATCH) == 1


def test_liveness_probes_reach_both_events_queues(cluster: BusCluster) -> None:
    cluster.wait_live(SERVICE, QUEUES)
