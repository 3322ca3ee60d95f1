"""Which queue each event type arrives on when a service batches all, some or none of them
(ADR 0022, addendum 4): no broker needed, the queues are declarations."""

from __future__ import annotations

import pytest
from switchboard_shared.celery_app import build_queues, create_service_app
from switchboard_shared.contracts.gateway import StripeEventReceived
from switchboard_shared.contracts.orders import OrderCancelled, OrderCreated
from switchboard_shared.contracts.payments import PaymentSucceeded
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.runtime import ServiceDefinition
from switchboard_shared.settings import PlatformSettings, ServiceSettings
from switchboard_shared.uow import UnitOfWork


def definition(batch_events: bool | tuple[type, ...]) -> ServiceDefinition:
    registry = HandlerRegistry()

    @registry.on(OrderCreated, OrderCancelled)
    def on_order(event: object, uow: UnitOfWork) -> None: ...

    @registry.on(StripeEventReceived)
    def on_stripe(event: object, uow: UnitOfWork) -> None: ...

    return ServiceDefinition(
        name="svc",
        command_queues=["svc.normal"],
        registry=registry,
        settings=ServiceSettings(database_url="sqlite://"),
        platform=PlatformSettings(broker_url="redis://127.0.0.1:6379/1"),
        batch_events=batch_events,  # type: ignore[arg-type]
    )


def bindings(d: ServiceDefinition) -> dict[str, list[str]]:
    return {q.name: sorted(b.routing_key for b in q.bindings) for q in build_queues(d)}


def test_no_batching_one_events_queue_for_every_type() -> None:
    d = definition(False)
    assert d.batch_queue is None
    assert bindings(d)["svc.events"] == [
        "*.order-cancelled",
        "*.order-created",
        "*.stripe-event-received",
        "switchboard.retry.svc",
    ]
    assert "svc.events.batched" not in bindings(d)


def test_every_type_batched_reads_the_one_events_queue() -> None:
    for batch_events in (True, (OrderCreated, OrderCancelled, StripeEventReceived)):
        d = definition(batch_events)
        assert d.batch_queue == "svc.events"
        assert d.task_event_types == []
        assert set(bindings(d)) == {"svc.normal", "svc.events"}


def test_some_types_batched_get_a_queue_of_their_own() -> None:
    d = definition((StripeEventReceived,))
    assert d.batch_queue == "svc.events.batched"
    assert d.task_event_types == ["order-cancelled", "order-created"]
    queues = bindings(d)
    assert queues["svc.events"] == ["*.order-cancelled", "*.order-created", "switchboard.retry.svc"]
    assert queues["svc.events.batched"] == ["*.stripe-event-received", "switchboard.batched.svc"]


def test_on_rabbitmq_the_batched_queue_dead_letters_where_the_events_queue_does() -> None:
    d = definition((StripeEventReceived,))
    d.platform = PlatformSettings(broker_url="amqp://guest:guest@127.0.0.1:5672//")
    queues = {q.name: q.queue_arguments for q in build_queues(d)}
    assert queues["svc.events.batched"] == queues["svc.events"]
    assert queues["svc.events.batched"]["x-queue-type"] == "quorum"


def test_the_app_declares_both_events_queues() -> None:
    app = create_service_app(definition((StripeEventReceived,)))
    assert {q.name for q in app.conf.task_queues} == {
        "svc.normal",
        "svc.events",
        "svc.events.batched",
    }


def test_batching_a_type_the_service_does_not_handle_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unhandled types \['payment-succeeded'\]"):
        create_service_app(definition((PaymentSucceeded,)))
