"""The kit's Redis transport: kombu's, with one client per connection pool instead of one per
command, chosen for `redis://` brokers only."""

from __future__ import annotations

import pytest
from celery import Celery
from kombu import Connection, Queue
from switchboard_shared.redis_transport import TRANSPORT, Channel, transport_for

pytestmark = pytest.mark.integration


def test_plain_redis_urls_get_the_kit_transport_others_keep_kombus() -> None:
    assert transport_for("redis://127.0.0.1:6379/0") == TRANSPORT
    assert transport_for("amqp://guest:guest@127.0.0.1:5672//") is None
    assert transport_for("redis+socket:///tmp/redis.sock") is None


def test_a_channel_reuses_its_client_until_its_pool_is_replaced(redis_url: str) -> None:
    with Connection(redis_url, transport=TRANSPORT) as connection:
        channel = connection.default_channel
        assert isinstance(channel, Channel)
        first = channel._create_client()
        assert channel._create_client() is first
        assert channel._create_client(asynchronous=True) is not first  # BRPOP's own
        channel._pool = None  # what kombu does after a fork or a reconnect
        replaced = channel._create_client()
        assert replaced is not first and replaced.connection_pool is channel.pool


def test_messages_go_through_and_are_acked_with_the_kept_client(redis_url: str) -> None:
    app = Celery("transport", broker=redis_url, set_as_current=False)
    app.conf.update(broker_transport=transport_for(redis_url))
    queue = Queue("kit-transport-test")
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, Channel)
        bound = queue(channel)
        bound.declare()
        bound.purge()
        with connection.Producer() as producer:
            for n in range(3):
                producer.publish({"n": n}, routing_key=queue.name, serializer="json")
        received, tags = [], []
        for _ in range(3):
            message = bound.get(no_ack=False, accept=["json"])
            assert message is not None
            received.append(message.payload["n"])
            tags.append(message.delivery_tag)
            message.ack()
        assert sorted(received) == [0, 1, 2]
        assert bound.get(no_ack=False) is None
        unacked = channel._create_client().hmget(channel.unacked_key, tags)
        assert unacked == [None, None, None], "every ack reached kombu's unacked hash"
        bound.delete()
