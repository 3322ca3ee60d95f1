"""The relay's batched publish on real Redis routes every event to every bound queue, once."""

from __future__ import annotations

import time

import pytest
import redis
from celery import Celery
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.orders import OrderCancelled
from switchboard_shared.contracts.payments import PaymentRefunded
from switchboard_shared.envelopes import wrap
from switchboard_shared.publisher import CeleryEventPublisher
from switchboard_shared.topology import events_queue

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("batch", [1, 2, 25])
def test_batched_events_reach_each_subscriber_queue_exactly_once(
    redis_url: str, batch: int
) -> None:
    app = Celery("routing", broker=redis_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"])
    queues = {
        "cancel-only": events_queue("cancel-only", ["order-cancelled"]),
        "both": events_queue("both", ["order-cancelled", "payment-refunded"]),
        "refund-only": events_queue("refund-only", ["payment-refunded"]),
    }
    with app.connection_for_write() as connection:
        for queue in queues.values():
            queue(connection.default_channel).declare()
    context = MessageContext.new("ord_1")
    cancelled = [
        wrap(
            OrderCancelled(order_id=f"o{i}", was_paid=True), service="orders", context=context
        ).model_dump(mode="json")
        for i in range(batch)
    ]
    refunded = [
        wrap(
            PaymentRefunded(payment_id=f"p{i}", order_id=f"o{i}", amount=1, currency="usd"),
            service="payments",
            context=context,
        ).model_dump(mode="json")
        for i in range(batch)
    ]

    CeleryEventPublisher(app).publish(
        [e for pair in zip(cancelled, refunded, strict=True) for e in pair]
    )

    client = redis.Redis.from_url(redis_url)
    assert {name: client.llen(f"{name}.events") for name in queues} == {
        "cancel-only": batch,
        "both": 2 * batch,
        "refund-only": batch,
    }


def test_binding_table_is_read_again_after_its_ttl(redis_url: str) -> None:
    app = Celery("bindings", broker=redis_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"])
    publisher = CeleryEventPublisher(app, bindings_ttl=0.5)
    event = wrap(
        OrderCancelled(order_id="o1", was_paid=False),
        service="orders",
        context=MessageContext.new("o1"),
    ).model_dump(mode="json")
    client = redis.Redis.from_url(redis_url)

    def declare(name: str) -> None:
        with app.connection_for_write() as connection:
            events_queue(name, ["order-cancelled"])(connection.default_channel).declare()

    declare("first")
    publisher.publish([event])
    declare("second")  # bound after the table was read: not seen until it is read again
    publisher.publish([event])
    assert (client.llen("first.events"), client.llen("second.events")) == (2, 0)

    time.sleep(0.6)
    publisher.publish([event])
    assert (client.llen("first.events"), client.llen("second.events")) == (3, 1)
