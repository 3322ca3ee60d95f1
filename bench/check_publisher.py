"""Checks for the batched event publisher (bench-only; run: python bench/check_publisher.py).

1. `_argsrepr` equals Celery's `saferepr` on random JSON values and real envelopes (or defers).
2. A batch published by `CeleryEventPublisher` puts the same kombu messages on Redis, in the
   same queues (topic routing: `*.<type>` bindings, no delivery to unbound queues), as
   publishing each envelope alone through kombu's normal `producer.publish` path does.
"""

from __future__ import annotations

import json
import random
import string
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_service
from celery.utils.saferepr import saferepr
from event_throughput import bench_redis
from kombu import Queue, binding
from switchboard_shared.context import MessageContext
from switchboard_shared.envelopes import wrap
from switchboard_shared.publisher import CeleryEventPublisher, _argsrepr
from switchboard_shared.topology import EVENTS_EXCHANGE

ALPHABET = string.ascii_letters + string.digits + " '\"\\\n\t\x00é€😀{}[]:,."


def random_json(depth: int = 0) -> object:
    roll = random.random()
    if depth > 5 or roll < 0.45:
        return random.choice(
            [
                "".join(random.choices(ALPHABET, k=random.choice([0, 5, 40, 300]))),
                random.randint(-(10**20), 10**20),
                random.random() * 10 ** random.randint(-10, 20),
                True,
                False,
                None,
                float("inf"),
            ]
        )
    if roll < 0.75:
        return {
            "".join(random.choices(ALPHABET, k=random.randint(0, 12))): random_json(depth + 1)
            for _ in range(random.randint(0, 6))
        }
    return [random_json(depth + 1) for _ in range(random.randint(0, 6))]


def check_argsrepr(app: object) -> None:
    random.seed(7)
    exact = deferred = 0
    for _ in range(20000):
        args = [random_json()]
        ours = _argsrepr(args, app)  # type: ignore[arg-type]
        theirs = saferepr(args, 1024, maxlevels=3)
        if ours is None:
            deferred += 1
            continue
        assert ours == theirs, (args, ours, theirs)
        exact += 1
    for size in range(990, 1030):  # around the truncation limit
        args = [{"k": "x" * size, "n": None}]
        ours = _argsrepr(args, app)  # type: ignore[arg-type]
        assert ours is None or ours == saferepr(args, 1024, maxlevels=3), size
        deferred += ours is None
    for seq in range(200):
        envelope = envelope_of(seq)
        assert _argsrepr([envelope], app) == saferepr([envelope], 1024, maxlevels=3)  # type: ignore[arg-type]
    print(f"argsrepr: {exact} identical to saferepr, {deferred} deferred to saferepr; envelopes ok")


def envelope_of(seq: int) -> dict[str, object]:
    event = bench_service.BenchHappened(seq=seq, phase="check", sent_at=1.5 + seq)
    return wrap(event, service="benchsrc", context=MessageContext.new(f"c-{seq}")).model_dump(
        mode="json"
    )


def comparable(raw: bytes) -> dict[str, object]:
    message = json.loads(raw)
    for key in ("delivery_tag",):
        message["properties"].pop(key)
    headers = message["headers"]
    for key in ("id", "root_id"):
        headers.pop(key)
    message["properties"].pop("correlation_id")
    return message


def original_publish(app: object, envelopes: list[dict[str, object]]) -> None:
    """The publisher as it was before batching (one `producer.publish` per envelope)."""
    import uuid

    from switchboard_shared.publisher import PUBLISH_RETRY_POLICY, _producer_of
    from switchboard_shared.topology import event_task_name

    amqp = app.amqp  # type: ignore[attr-defined]
    with app.producer_or_acquire() as producer:  # type: ignore[attr-defined]
        producer.maybe_declare(EVENTS_EXCHANGE, retry=True, **PUBLISH_RETRY_POLICY)
        for envelope in envelopes:
            task_id = str(uuid.uuid4())
            message = amqp.as_task_v2(
                task_id,
                event_task_name(str(envelope["type"])),
                args=[envelope],
                kwargs={},
                correlation_id=task_id,
                ignore_result=True,
            )
            headers = {**message.headers, "correlation_id": envelope["correlationid"]}
            producer.publish(
                message.body,
                exchange=EVENTS_EXCHANGE,
                routing_key=f"{_producer_of(envelope)}.{envelope['type']}",
                headers=headers,
                serializer="json",
                retry=True,
                retry_policy=PUBLISH_RETRY_POLICY,
                **message.properties,
            )


def check_wire(app: object, broker_url: str) -> None:
    import redis

    client = redis.Redis.from_url(broker_url)
    with app.connection_for_write() as connection:  # type: ignore[attr-defined]
        channel = connection.default_channel
        Queue(
            "match.events",
            bindings=[binding(EVENTS_EXCHANGE, routing_key="*.bench-happened")],
            durable=True,
        )(channel).declare()
        Queue(
            "other.events",
            bindings=[binding(EVENTS_EXCHANGE, routing_key="*.other-thing")],
            durable=True,
        )(channel).declare()
        Queue(
            "producer.events",
            bindings=[binding(EVENTS_EXCHANGE, routing_key="benchsrc.*")],
            durable=True,
        )(channel).declare()
    envelopes = [envelope_of(seq) for seq in range(50)]
    publisher = CeleryEventPublisher(app)  # type: ignore[arg-type]
    publisher.publish(envelopes)  # batched
    batched = {q: client.lrange(q, 0, -1) for q in ("match.events", "producer.events")}
    assert client.llen("other.events") == 0, "delivered to a queue bound to another type"
    client.delete("match.events", "producer.events")
    original_publish(app, envelopes)  # the pre-batching code: kombu's normal publish path
    single = {q: client.lrange(q, 0, -1) for q in ("match.events", "producer.events")}
    for queue in batched:
        assert len(batched[queue]) == len(single[queue]) == 50, queue
        for a, b in zip(batched[queue], single[queue], strict=True):
            assert comparable(a) == comparable(b), (a, b)
    print(
        "wire: batched messages identical to the original one-by-one publishes, routed to the same queues"
    )


def main() -> int:
    with bench_redis(None) as broker_url:
        app = bench_service.build("benchsrc", broker_url, broker_url, "sqlite://", handlers=False)
        check_argsrepr(app)
        check_wire(app, broker_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
