"""A broker that ran the older topology keeps its bindings: when an event type moves to the
batched queue, the worker unbinds it from the events queue it left (ADR 0022, addendum 4), on
real Redis and RabbitMQ."""

from __future__ import annotations

from pathlib import Path

import pytest
from switchboard_shared.celery_app import create_service_app, unbind_moved_types
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.gateway import StripeEventReceived
from switchboard_shared.contracts.orders import OrderCreated
from switchboard_shared.envelopes import wrap
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.publisher import CeleryEventPublisher
from switchboard_shared.runtime import ServiceDefinition
from switchboard_shared.settings import PlatformSettings, ServiceSettings
from switchboard_shared.testing import sample_order_created
from switchboard_shared.topology import events_queue
from switchboard_shared.uow import UnitOfWork

pytestmark = pytest.mark.integration
SERVICE = "moved"


def definition(broker_url: str, tmp_path: Path) -> ServiceDefinition:
    registry = HandlerRegistry()

    @registry.on(OrderCreated)
    def charge(event: OrderCreated, uow: UnitOfWork) -> None: ...

    @registry.on(StripeEventReceived)
    def apply(event: StripeEventReceived, uow: UnitOfWork) -> None: ...

    return ServiceDefinition(
        name=SERVICE,
        command_queues=[f"{SERVICE}.normal"],
        registry=registry,
        settings=ServiceSettings(database_url=f"sqlite:///{tmp_path / 'moved.db'}"),
        platform=PlatformSettings(broker_url=broker_url),
        batch_events=(StripeEventReceived,),
    )


def depth(app: object, name: str) -> int:
    with app.connection_for_write() as connection:  # type: ignore[attr-defined]
        return int(app.amqp.queues[name](connection.default_channel).queue_declare().message_count)  # type: ignore[attr-defined]


@pytest.mark.parametrize("broker_url", ["redis", "rabbitmq"], indirect=True)
def test_a_type_moved_to_the_batched_queue_reaches_the_service_once(
    broker_url: str, tmp_path: Path
) -> None:
    amqp = broker_url.startswith("amqp")
    d = definition(broker_url, tmp_path)
    app = create_service_app(d)
    # The older topology: one events queue bound to both types.
    before = events_queue(SERVICE, ["order-created", "stripe-event-received"], quorum=amqp)
    with app.connection_for_write() as connection:
        before(connection.default_channel).declare()

    unbind_moved_types(app, d)
    unbind_moved_types(app, d)  # again, as every worker start does: nothing left to unbind

    context = MessageContext.new("ord_1")
    stripe = StripeEventReceived(
        stripe_event_id="evt_1", stripe_type="payment_intent.succeeded", object={}, created=1
    )
    CeleryEventPublisher(app).publish(
        [
            wrap(e, service=p, context=context).model_dump(mode="json")
            for e, p in [(sample_order_created("ord_1"), "orders"), (stripe, "gateway")]
        ]
    )
    assert depth(app, f"{SERVICE}.events") == 1, "order-created only"
    assert depth(app, f"{SERVICE}.events.batched") == 1, "stripe-event-received only"
