"""`RedisBatchQueue` on real Redis: it takes and acks as kombu's `basic_get` and `Message.ack`
do, leaving kombu's unacked records (and so its restore after a crash) exactly as kombu would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Queue
from switchboard_shared.redis_batches import RedisBatchQueue
from switchboard_shared.redis_transport import TRANSPORT

pytestmark = pytest.mark.integration

QUEUE = "kit-redis-batches-test"


@pytest.fixture
def channel(redis_url: str) -> Iterator[Any]:
    with Connection(redis_url, transport=TRANSPORT) as connection:
        channel = connection.channel()
        bound = Queue(QUEUE)(channel)
        bound.declare()
        bound.purge()
        yield channel
        bound.delete()
        channel.close()


def publish(channel: Any, *bodies: dict[str, Any], priority: int = 0) -> None:
    with channel.connection.client.Producer(channel) as producer:
        for body in bodies:
            producer.publish(body, routing_key=QUEUE, serializer="json", priority=priority)


def unacked(channel: Any, tags: list[str]) -> list[Any]:
    client = channel._create_client()
    entries = client.hmget(channel.unacked_key, tags)
    return [json.loads(e) if e is not None else None for e in entries]


def test_taken_messages_are_recorded_unacked_as_basic_get_records_them(channel: Any) -> None:
    publish(channel, {"n": 1}, {"n": 2})
    kombus = Queue(QUEUE)(channel).get(no_ack=False, accept=["json"])  # kombu's own record
    [ours] = RedisBatchQueue(channel, QUEUE, ["json"]).take(10)

    assert (kombus.payload, ours.payload) == ({"n": 1}, {"n": 2}), "oldest first"
    kombu_entry, our_entry = unacked(channel, [kombus.delivery_tag, ours.delivery_tag])
    assert our_entry[1:] == kombu_entry[1:], "the same exchange and routing key"
    assert our_entry[0]["properties"]["delivery_tag"] == ours.delivery_tag
    assert our_entry[0]["body"] == ours._raw["body"]
    score = channel._create_client().zscore(channel.unacked_index_key, ours.delivery_tag)
    assert score is not None, "indexed by time, for the visibility timeout"
    assert ours.delivery_tag in channel.qos._delivered, "kombu's in-memory record too"


def test_take_reads_the_priority_levels_in_kombus_order_up_to_the_limit(channel: Any) -> None:
    def fill() -> None:
        publish(channel, {"n": "p0-1"}, {"n": "p0-2"}, priority=0)
        publish(channel, {"n": "p9"}, priority=9)
        publish(channel, {"n": "p5"}, priority=5)

    fill()
    kombus_order = []
    while (message := Queue(QUEUE)(channel).get(no_ack=False, accept=["json"])) is not None:
        kombus_order.append(message.payload["n"])
        message.ack()
    fill()
    batches = RedisBatchQueue(channel, QUEUE, ["json"])

    first, rest = batches.take(2), batches.take(10)

    assert [m.payload["n"] for m in first + rest] == kombus_order
    assert len(first) == 2 and batches.take(10) == []
    batches.ack(first + rest)


def test_ack_removes_the_whole_batch_in_one_go(channel: Any) -> None:
    publish(channel, *({"n": n} for n in range(5)))
    batches = RedisBatchQueue(channel, QUEUE, ["json"])
    messages = batches.take(5)
    tags = [m.delivery_tag for m in messages]

    batches.ack(messages)

    assert unacked(channel, tags) == [None] * 5
    assert channel._create_client().zscore(channel.unacked_index_key, tags[0]) is None
    assert all(m.acknowledged for m in messages)
    channel.qos._flush()
    assert not set(tags) & set(channel.qos._delivered), "kombu's prefetch count is freed"


def test_unacked_messages_come_back_through_kombus_restore(channel: Any) -> None:
    publish(channel, {"n": "crashed"})
    [taken] = RedisBatchQueue(channel, QUEUE, ["json"]).take(1)  # and the process dies

    channel.qos.restore_by_tag(taken.delivery_tag)  # what the visibility timeout triggers

    again = Queue(QUEUE)(channel).get(no_ack=False, accept=["json"])
    assert again is not None and again.payload == {"n": "crashed"}
    assert again.delivery_info["redelivered"] is True
    again.ack()


def test_a_message_the_script_cannot_read_is_left_in_the_queue(channel: Any) -> None:
    publish(channel, {"n": "fine"})
    channel._create_client().lpush(QUEUE, "not json")  # newer than the good one
    batches = RedisBatchQueue(channel, QUEUE, ["json"])

    [fine] = batches.take(10)
    assert fine.payload == {"n": "fine"}
    assert batches.take(10) == []
    assert channel._create_client().lrange(QUEUE, 0, -1) == [b"not json"], "nothing lost"
    batches.ack([fine])
