"""The relay's pipelined publish on real Redis routes every event to every bound queue, once,
in the very message kombu would write."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from celery import Celery
from kombu import Producer
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.orders import OrderCancelled
from switchboard_shared.contracts.payments import PaymentRefunded
from switchboard_shared.envelopes import wrap
from switchboard_shared.publisher import CeleryEventPublisher, RedisWire
from switchboard_shared.topology import EVENTS_EXCHANGE, events_queue

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


def test_the_pipelined_message_is_the_one_kombu_would_write(redis_url: str) -> None:
    app = Celery("wire", broker=redis_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"])
    publisher = CeleryEventPublisher(app)
    envelope = wrap(
        OrderCancelled(order_id="o1", was_paid=True),
        service="orders",
        context=MessageContext.new("o1"),
    ).model_dump(mode="json")
    message = publisher._message(envelope)
    client = redis.Redis.from_url(redis_url)

    def written_by(publish: Callable[[Producer], None]) -> dict[str, Any]:
        with app.connection_for_write() as connection:
            events_queue("wire", ["order-cancelled"])(connection.default_channel).declare()
        with app.producer_or_acquire() as producer:
            producer.maybe_declare(EVENTS_EXCHANGE)
            publish(producer)
        raw = client.rpop("wire.events")
        assert raw is not None and client.llen("wire.events") == 0, "exactly one message"
        written: dict[str, Any] = json.loads(raw)
        assert written["properties"].pop("delivery_tag")
        return written

    by_kombu = written_by(
        lambda producer: producer.publish(
            message.body,
            exchange=EVENTS_EXCHANGE,
            routing_key=message.routing_key,
            headers=message.headers,
            serializer="json",
            **message.properties,
        )
    )
    pipelined = written_by(
        lambda producer: RedisWire(producer.channel, publisher.bindings).push([message])
    )

    assert pipelined == by_kombu
    assert pipelined["headers"]["task"] == "event.order-cancelled"
    assert pipelined["properties"]["delivery_info"] == {
        "exchange": "switchboard.events",
        "routing_key": "orders.order-cancelled",
    }


def test_an_event_no_queue_is_bound_to_is_dropped_as_kombu_drops_it(redis_url: str) -> None:
    app = Celery("unbound", broker=redis_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"])
    event = wrap(
        PaymentRefunded(payment_id="p1", order_id="o1", amount=1, currency="usd"),
        service="payments",
        context=MessageContext.new("o1"),
    ).model_dump(mode="json")

    CeleryEventPublisher(app).publish([event])

    client = redis.Redis.from_url(redis_url)
    assert [key for key in client.scan_iter() if not key.startswith(b"_kombu.binding.")] == []
