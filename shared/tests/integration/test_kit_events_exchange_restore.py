"""An event given back after a worker died reaches its subscriber's queue, whichever worker
connection restores it: the kit's Redis channel knows the events exchange from the start."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection
from switchboard_shared.redis_transport import TRANSPORT
from switchboard_shared.topology import EVENTS_EXCHANGE, events_queue

pytestmark = pytest.mark.integration

SUBSCRIBER = "kit-restore-test"


@pytest.fixture
def taken_event(redis_url: str) -> Iterator[tuple[str, Any]]:
    """An order-created event in the subscriber's queue, taken and left unacked (the worker
    that took it died); the subscriber's connection stays open."""
    with Connection(redis_url, transport=TRANSPORT) as subscriber:
        channel = subscriber.channel()
        queue = events_queue(SUBSCRIBER, ["order-created"])(channel)
        queue.declare()
        queue.purge()
        with subscriber.Producer(channel) as producer:
            producer.publish({"n": 1}, exchange=EVENTS_EXCHANGE, routing_key="orders.order-created")
        message = queue.get(no_ack=False, accept=["json"])
        assert message is not None
        yield message.delivery_tag, queue
        queue.delete()


def restore_from_a_new_connection(redis_url: str, tag: str, transport: str | None) -> None:
    """What a worker starting up does first: give back what is due, before declaring anything."""
    with Connection(redis_url, transport=transport) as worker:
        worker.default_channel.qos.restore_by_tag(tag)


def test_kombus_own_channel_drops_an_event_it_restores_before_declaring_the_exchange(
    redis_url: str, taken_event: tuple[str, Any]
) -> None:
    """The reason for the kit's channel: kombu looks the routing key up as a `direct`
    exchange's, finds no queue, and drops the event."""
    tag, queue = taken_event
    restore_from_a_new_connection(redis_url, tag, transport=None)
    assert queue.get(no_ack=True) is None
    client = queue.channel._create_client()
    assert client.hget(queue.channel.unacked_key, tag) is None, "and it is no longer unacked"


def test_the_kits_channel_restores_the_event_to_its_subscriber(
    redis_url: str, taken_event: tuple[str, Any]
) -> None:
    tag, queue = taken_event
    restore_from_a_new_connection(redis_url, tag, transport=TRANSPORT)
    again = queue.get(no_ack=True, accept=["json"])
    assert again is not None and again.payload == {"n": 1}
    assert again.delivery_info["redelivered"] is True
