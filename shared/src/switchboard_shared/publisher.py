"""Putting event envelopes on the wire as Celery task messages named `event.<type>`."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from celery import Celery
from kombu import Producer, serialization
from kombu.entity import PERSISTENT_DELIVERY_MODE
from kombu.utils.json import dumps as json_dumps

from .argsrepr import celery_argsrepr
from .topology import EVENTS_EXCHANGE, event_task_name

log = logging.getLogger("switchboard.publisher")

BINDINGS_TTL_S = 1.0
PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0.1,
    "interval_step": 0.5,
    "interval_max": 1.0,
}


class EventPublisher(Protocol):
    def publish(self, envelopes: Sequence[dict[str, Any]]) -> None:
        """Publish every envelope or raise; a raise leaves the caller's outbox rows pending."""


class CeleryEventPublisher:
    """Publishes through the app's producer pool; confirms on RabbitMQ (`confirm_publish`).

    On Redis, envelopes go out in one pipeline of the LPUSHes kombu would send (`RedisWire`),
    a single one too: an LPUSH per subscribed service's queue, routed by kombu's own topic
    lookup. If the pipeline fails, the envelopes are published again one by one through kombu
    with retries: a duplicate on the wire is harmless (the subscribers' inbox), a lost event
    is not.

    Reading a topic exchange's binding table is a Redis round trip of its own (SMEMBERS),
    as long as the LPUSHes: this publisher keeps a table for `bindings_ttl` seconds. So a
    queue bound for the first time (a new subscriber's first start) receives events from at
    most that long after its binding, not from the instant of it. Bindings outlive worker
    restarts: a subscriber that is stopped or restarting misses nothing.
    """

    def __init__(self, app: Celery, *, bindings_ttl: float = BINDINGS_TTL_S) -> None:
        self.app = app
        self.bindings = BindingTables(bindings_ttl)
        self._wire: RedisWire | None = None

    def publish(self, envelopes: Sequence[dict[str, Any]]) -> None:
        if not envelopes:
            return
        with self.app.producer_or_acquire() as producer:
            # Declaring the exchange in this process is what makes kombu's Redis
            # transport route by topic rather than by exact key (ARCHITECTURE §8).
            producer.maybe_declare(EVENTS_EXCHANGE, retry=True, **PUBLISH_RETRY_POLICY)
            if producer.connection.transport.driver_type == "redis":
                try:
                    self._redis_wire(producer.channel).push(
                        [self._message(envelope) for envelope in envelopes]
                    )
                    return
                except Exception as exc:  # delivery uncertain: resend all, duplicates are fine
                    log.warning(
                        "pipelined publish failed, publishing one by one: %s: %s",
                        type(exc).__name__,
                        exc,
                    )
            for envelope in envelopes:
                self._publish_one(producer, envelope)

    def _message(self, envelope: dict[str, Any]) -> EventMessage:
        task_id = str(uuid.uuid4())
        args = [envelope]
        message = self.app.amqp.as_task_v2(
            task_id,
            event_task_name(envelope["type"]),
            args=args,
            kwargs={},
            argsrepr=celery_argsrepr(args, self.app),
            correlation_id=task_id,
            # Subscribers share this task id: a stored result of one would make another
            # subscriber's worker-lost redelivery look already done (celery request._success_was_stored).
            ignore_result=True,
        )
        return EventMessage(
            body=message.body,
            routing_key=f"{_producer_of(envelope)}.{envelope['type']}",
            headers={**message.headers, "correlation_id": envelope["correlationid"]},
            properties=message.properties,
        )

    def _publish_one(self, producer: Producer, envelope: dict[str, Any]) -> None:
        message = self._message(envelope)
        producer.publish(
            message.body,
            exchange=EVENTS_EXCHANGE,
            routing_key=message.routing_key,
            headers=message.headers,
            serializer="json",
            retry=True,
            retry_policy=PUBLISH_RETRY_POLICY,
            **message.properties,
        )

    def _redis_wire(self, channel: Any) -> RedisWire:
        if self._wire is None or self._wire.channel is not channel:
            self._wire = RedisWire(channel, self.bindings)
        return self._wire


@dataclass(frozen=True)
class EventMessage:
    """One event as a Celery task message, before the transport encodes it."""

    body: Any
    routing_key: str
    headers: dict[str, Any]
    properties: dict[str, Any]


class RedisWire:
    """Writes event messages to kombu's Redis queues as kombu's own publish writes them.

    kombu, per message, builds a Redis client, serialises the whole message once per bound
    queue, and runs its producer's checks: several times the cost of the LPUSHes themselves,
    and most of an event-producing hop's publish. Here a message is serialised once, with
    the channel's own encoding, routed by the channel's topic lookup over a kept binding table
    (`BindingTables`), and pushed to each queue in one pipeline, on one client over kombu's
    connection pool. A subscriber reads the same message kombu would have written (a test
    compares the two). A topic with no bound queue drops the message, as kombu does. A
    pipeline that the client retries after a lost connection may push twice: duplicates are
    absorbed by the subscribers' inboxes, as for any redelivery.
    """

    def __init__(self, channel: Any, bindings: BindingTables) -> None:
        self.channel = channel
        self.bindings = bindings
        self.client = channel._create_client()  # the kit's channel keeps one (ADR 0023)
        self.exchange = EVENTS_EXCHANGE.name
        self.topics = channel.typeof(self.exchange)

    def push(self, messages: Sequence[EventMessage]) -> None:
        table = self.bindings.table(self.channel, self.exchange)
        with self.client.pipeline(transaction=False) as pipe:
            for message in messages:
                queues = self.topics.lookup(table, self.exchange, message.routing_key, None)
                if not queues:
                    continue
                payload = json_dumps(self._wire_format(message))
                for queue in queues:
                    pipe.lpush(self.channel._q_for_pri(queue, 0), payload)
            pipe.execute()

    def _wire_format(self, message: EventMessage) -> dict[str, Any]:
        channel = self.channel
        content_type, content_encoding, body = serialization.dumps(message.body, "json")
        properties = {**message.properties, "delivery_mode": PERSISTENT_DELIVERY_MODE}
        wire = channel.prepare_message(
            body, 0, content_type, content_encoding, message.headers, properties
        )
        wire["body"], body_encoding = channel.encode_body(body, channel.body_encoding)
        wire["properties"].update(body_encoding=body_encoding, delivery_tag=str(uuid.uuid4()))
        wire["properties"]["delivery_info"].update(
            exchange=self.exchange, routing_key=message.routing_key
        )
        return dict(wire)


class BindingTables:
    """kombu's virtual topic exchange looks its bindings up (SMEMBERS on Redis) for every
    message; here a table is read once per exchange and kept for `ttl` seconds (0: once per
    publish call). Routing itself stays kombu's."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._tables: dict[str, tuple[float, Any]] = {}

    def table(self, channel: Any, exchange: str) -> Any:
        """The exchange's binding table, read through `channel` when not kept (or expired)."""
        now = time.monotonic()
        kept = self._tables.get(exchange)
        if kept is None or now >= kept[0]:
            kept = (now + self.ttl, type(channel).get_table(channel, exchange))
            self._tables[exchange] = kept
        return kept[1]


def _producer_of(envelope: dict[str, Any]) -> str:
    return str(envelope["source"]).rstrip("/").rsplit("/", 1)[-1]
