"""Putting event envelopes on the wire as Celery task messages named `event.<type>`."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from celery import Celery
from kombu import Producer

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

    Envelopes go out in one kombu publish batch where the transport supports it (Redis: one
    pipeline of the exact LPUSHes kombu would send one by one, routed by kombu's own topic
    lookup), a single one too: it is an LPUSH per subscribed service's queue. If the batch
    fails, the envelopes are published again one by one with retries: a duplicate on the wire
    is harmless (the subscribers' inbox), a lost event is not.

    Reading a topic exchange's binding table is a Redis round trip of its own (SMEMBERS),
    as long as the LPUSHes: this publisher keeps a table for `bindings_ttl` seconds. So a
    queue bound for the first time (a new subscriber's first start) receives events from at
    most that long after its binding, not from the instant of it. Bindings outlive worker
    restarts: a subscriber that is stopped or restarting misses nothing.
    """

    def __init__(self, app: Celery, *, bindings_ttl: float = BINDINGS_TTL_S) -> None:
        self.app = app
        self.bindings = BindingTables(bindings_ttl)

    def publish(self, envelopes: Sequence[dict[str, Any]]) -> None:
        if not envelopes:
            return
        with self.app.producer_or_acquire() as producer:
            # Declaring the exchange in this process is what makes kombu's Redis
            # transport route by topic rather than by exact key (ARCHITECTURE §8).
            producer.maybe_declare(EVENTS_EXCHANGE, retry=True, **PUBLISH_RETRY_POLICY)
            # Even one envelope: a topic event is an LPUSH per bound queue, one round trip in all.
            if producer.supports_batch_publish:
                try:
                    with self.bindings.routing(producer), producer.batch(max_size=1000):
                        for envelope in envelopes:
                            self._publish_one(producer, envelope, retry=False)
                    return
                except Exception as exc:  # delivery uncertain: resend all, duplicates are fine
                    log.warning(
                        "batch publish failed, publishing one by one: %s: %s",
                        type(exc).__name__,
                        exc,
                    )
            for envelope in envelopes:
                self._publish_one(producer, envelope, retry=True)

    def _publish_one(self, producer: Producer, envelope: dict[str, Any], *, retry: bool) -> None:
        task_id = str(uuid.uuid4())
        args = [envelope]
        message = self.app.amqp.as_task_v2(
            task_id,
            event_task_name(envelope["type"]),
            args=args,
            kwargs={},
            argsrepr=_argsrepr(args, self.app),
            correlation_id=task_id,
            # Subscribers share this task id: a stored result of one would make another
            # subscriber's worker-lost redelivery look already done (celery request._success_was_stored).
            ignore_result=True,
        )
        headers = {**message.headers, "correlation_id": envelope["correlationid"]}
        producer.publish(
            message.body,
            exchange=EVENTS_EXCHANGE,
            routing_key=f"{_producer_of(envelope)}.{envelope['type']}",
            headers=headers,
            serializer="json",
            retry=retry,
            retry_policy=PUBLISH_RETRY_POLICY,
            **message.properties,
        )


class BindingTables:
    """kombu's virtual topic exchange looks its bindings up (SMEMBERS on Redis) for every
    message; here a table is read once per exchange and kept for `ttl` seconds (0: once per
    publish call). Routing itself stays kombu's."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._tables: dict[str, tuple[float, Any]] = {}

    @contextmanager
    def routing(self, producer: Producer) -> Iterator[None]:
        channel = producer.channel
        read: Callable[[Any, str], Any] | None = getattr(type(channel), "get_table", None)
        if read is None or "get_table" in vars(channel):
            yield
            return
        read_now: dict[str, Any] = {}

        def get_table(exchange: str) -> Any:
            if exchange in read_now:
                return read_now[exchange]
            now = time.monotonic()
            kept = self._tables.get(exchange)
            if kept is None or now >= kept[0]:
                kept = (now + self.ttl, read(channel, exchange))
                self._tables[exchange] = kept
            read_now[exchange] = kept[1]
            return kept[1]

        channel.get_table = get_table
        try:
            yield
        finally:
            del channel.get_table


def _argsrepr(args: list[Any], app: Celery) -> str | None:
    """Celery's `argsrepr` header, as `saferepr` would make it, without its per-token cost.

    `saferepr` streams token by token and dominated the publish cost (~0.3 ms per event).
    For JSON values whose whole repr is shorter than Celery's limit (so nothing is
    truncated) the result is the same string; anything else returns None, and Celery
    computes it with `saferepr` as before.
    """
    maxsize = app.amqp.argsrepr_maxsize
    out: list[str] = []
    if not _json_repr(args, 0, app.conf.task_repr_maxlevels, out):
        return None
    text = "".join(out)
    return text if len(text) < maxsize else None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "\\'") + "'"


def _json_repr(value: Any, level: int, maxlevels: int, out: list[str]) -> bool:
    """Append saferepr's rendering of a JSON value (no truncation); False if not JSON."""
    kind = type(value)
    if kind is str:
        out.append(_quote(value))
    elif kind is bool or kind is int or kind is float:
        out.append(str(value))
    elif value is None:
        out.append("None")
    elif kind is dict or kind is list:
        if maxlevels and level >= maxlevels:
            out.append("{...}" if kind is dict else "[...]")
            return True
        if kind is dict:
            out.append("{")
            for i, (key, item) in enumerate(value.items()):
                if type(key) is not str:
                    return False
                if i:
                    out.append(", ")
                out.append(_quote(key))
                out.append(": ")
                if not _json_repr(item, level + 1, maxlevels, out):
                    return False
            out.append("}")
        else:
            out.append("[")
            for i, item in enumerate(value):
                if i:
                    out.append(", ")
                if not _json_repr(item, level + 1, maxlevels, out):
                    return False
            out.append("]")
    else:
        return False
    return True


def _producer_of(envelope: dict[str, Any]) -> str:
    return str(envelope["source"]).rstrip("/").rsplit("/", 1)[-1]
