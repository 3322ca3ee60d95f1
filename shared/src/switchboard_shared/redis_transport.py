"""kombu's Redis transport, knowing the events exchange, with one Redis client per pool.

**The events exchange.** kombu gives a dead worker's unacked messages back through the
exchange each was published to, and knows an exchange's type only from declarations made on
the same connection: for any other it assumes `direct`. A `direct` lookup of an event's routing
key (`orders.order-created`) matches none of the events queues' `*.<type>` bindings, and the
Redis channel has no dead-letter queue, so a restored event was dropped. A Celery worker scans
for expired unacked messages while it connects, before any of its steps can declare anything,
and the unacked set is shared by every service on the broker: any worker could drop any
service's events (ADR 0006, addendum 2). Every channel here declares the platform's events
exchange as it opens: kombu keeps an exchange's type in memory (its bindings are in Redis),
so this costs no round trip.

**One client per pool.** kombu's Redis channel builds a new `redis.Redis` for nearly every command it sends outside
the consumer's BRPOP: each get, ack, unacked record, queue size and publish. Building one
copies the client's table of a few hundred response callbacks, which cost more CPU than the
command itself (about 0.1 ms hot, several times that in a process that just woke), and a
worker sends several such commands per task. A client holds no connection of its own (it
takes one from the pool per command, a pipeline per `execute`) and is safe to share between
threads, so this channel keeps one per pool and builds a new one only when the pool is
replaced (after a fork, or when kombu reconnects).

Celery picks it with `broker_transport` (`transport_for`); the URL stays a `redis://` one.
"""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue
from kombu.transport import redis as kombu_redis

from .topology import EVENTS_EXCHANGE

TRANSPORT = f"{__name__}:Transport"


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    _shared_client: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exchange_declare(
            exchange=EVENTS_EXCHANGE.name,
            type=EVENTS_EXCHANGE.type,
            durable=EVENTS_EXCHANGE.durable,
            auto_delete=EVENTS_EXCHANGE.auto_delete,
        )

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the consumer's BRPOP client: kombu already keeps that one
            return super()._create_client(asynchronous=True)
        client = self._shared_client
        if client is None or client.connection_pool is not self.pool:
            client = self._shared_client = super()._create_client()
        return client


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


def unbind(channel: Any, queue: Queue, exchange: Exchange, routing_key: str) -> None:
    """Remove one binding of `queue` on the broker (absent: nothing changes).

    kombu's Redis channel unbinds only from its in-memory copy of the binding table; the
    binding stays in Redis and keeps routing. There it is removed from Redis itself, as the
    member kombu's own bind wrote."""
    if not isinstance(channel, kombu_redis.Channel):
        queue(channel).unbind_from(exchange, routing_key=routing_key)
        return
    _, pattern, _ = channel.typeof(exchange.name).prepare_bind(
        queue.name, exchange.name, routing_key, None
    )
    member = channel.sep.join([routing_key, pattern or "", queue.name])
    with channel.conn_or_acquire() as client, client.pipeline() as pipe:
        pipe.srem(channel.keyprefix_queue % (exchange.name,), member)
        pipe.srem(channel.keyprefix_binding_permanent % (exchange.name,), member)
        pipe.execute()


def transport_for(broker_url: str) -> str | None:
    """The transport Celery should use for `broker_url`: this one for plain `redis://` URLs,
    kombu's choice (None) for anything else."""
    return TRANSPORT if broker_url.startswith("redis://") else None
