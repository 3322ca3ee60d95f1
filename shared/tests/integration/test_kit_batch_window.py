"""A batch consumer's window (ADR 0022, addendum 2), on real Redis and RabbitMQ: events that
arrive within it after a first one are handled with it in one transaction; without a window,
a lone event goes as soon as nothing more is ready."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from switchboard_shared.batching import EventBatchConsumer
from switchboard_shared.celery_app import create_service_app
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.orders import OrderCancelled
from switchboard_shared.envelopes import wrap
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.publisher import CeleryEventPublisher
from switchboard_shared.runtime import ServiceDefinition
from switchboard_shared.settings import PlatformSettings, ServiceSettings
from switchboard_shared.testsupport import wait_until
from switchboard_shared.topology import events_queue_name
from switchboard_shared.uow import UnitOfWork

pytestmark = pytest.mark.integration

SERVICE = "windowed"


@dataclass
class Handled:
    """What the handler saw: (order id, the batch's unit of work, when), in order."""

    runs: list[tuple[str, int, float]] = field(default_factory=list)

    def batches(self) -> list[list[str]]:
        grouped: dict[int, list[str]] = {}
        for order_id, batch, _ in self.runs:
            grouped.setdefault(batch, []).append(order_id)
        return list(grouped.values())

    def at(self, order_id: str) -> float:
        return next(when for seen, _, when in self.runs if seen == order_id)


@contextmanager
def consuming(broker_url: str, tmp_path: Path, window: float) -> Iterator[tuple[Handled, Any]]:
    handled = Handled()
    registry = HandlerRegistry()

    @registry.on(OrderCancelled, idempotent=True)
    def note(event: OrderCancelled, uow: UnitOfWork) -> None:
        handled.runs.append((event.order_id, id(uow), time.monotonic()))

    definition = ServiceDefinition(
        name=SERVICE,
        command_queues=[f"{SERVICE}.normal"],
        registry=registry,
        settings=ServiceSettings(database_url=f"sqlite:///{tmp_path / 'windowed.db'}"),
        platform=PlatformSettings(broker_url=broker_url),
        batch_events=True,
        event_batch_window=window,
    )
    app = create_service_app(definition)
    app.runtime.create_schema()  # type: ignore[attr-defined]
    queue = app.amqp.queues[events_queue_name(SERVICE)]
    with app.connection_for_write() as connection:
        queue(connection.default_channel).declare()
    consumer = EventBatchConsumer(
        app, queue, max_messages=200, max_wait=0.05, linger=0.001, window=window
    )
    thread: threading.Thread = consumer.start()
    publisher = CeleryEventPublisher(app)

    def publish(order_id: str) -> float:
        envelope = wrap(
            OrderCancelled(order_id=order_id, was_paid=False),
            service="orders",
            context=MessageContext.new(order_id),
        )
        sent = time.monotonic()
        publisher.publish([envelope.model_dump(mode="json")])
        return sent

    try:
        yield handled, publish
    finally:
        consumer.should_stop = True
        thread.join(10)
        app.runtime.engine.dispose()  # type: ignore[attr-defined]


def test_events_within_the_window_join_the_first_ones_batch(
    broker_url: str, tmp_path: Path
) -> None:
    with consuming(broker_url, tmp_path, window=0.4) as (handled, publish):
        first_sent = publish("o1")
        time.sleep(0.1)
        publish("o2")
        time.sleep(0.1)
        publish("o3")
        wait_until(lambda: len(handled.runs) == 3, 10)

    assert handled.batches() == [["o1", "o2", "o3"]]
    assert handled.at("o1") - first_sent >= 0.4, "held for the window after the first event"


def test_without_a_window_a_lone_event_goes_at_once(broker_url: str, tmp_path: Path) -> None:
    with consuming(broker_url, tmp_path, window=0.0) as (handled, publish):
        publish("o1")
        time.sleep(0.2)
        publish("o2")
        wait_until(lambda: len(handled.runs) == 2, 10)

    # o1 went in a batch of its own: it did not wait the 0.2 s until o2 was there.
    assert handled.batches() == [["o1"], ["o2"]]
