"""kombu's Redis transport, with one Redis client per connection pool.

kombu's Redis channel builds a new `redis.Redis` for nearly every command it sends outside
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

from kombu.transport import redis as kombu_redis

TRANSPORT = f"{__name__}:Transport"


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    _shared_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the consumer's BRPOP client: kombu already keeps that one
            return super()._create_client(asynchronous=True)
        client = self._shared_client
        if client is None or client.connection_pool is not self.pool:
            client = self._shared_client = super()._create_client()
        return client


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


def transport_for(broker_url: str) -> str | None:
    """The transport Celery should use for `broker_url`: this one for plain `redis://` URLs,
    kombu's choice (None) for anything else."""
    return TRANSPORT if broker_url.startswith("redis://") else None
