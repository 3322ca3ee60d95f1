"""Every worker's consumer connection declares the events exchange (ADR 0006, addendum 2).

On Redis, kombu gives a killed worker's unacked messages back from whichever consumer
connection scans for them first, and routes each through the exchange it was published to.
kombu knows an exchange's type only from declarations made on that same connection; for one
it never declared it assumes `direct`, which matches none of the events queues' `*.<type>`
bindings, and its Redis channel has no dead-letter queue: a restored event was dropped.
A consumer that does not consume an events queue itself never declares the exchange: the
worker of a service whose events go to the batch consumer (it restores at start-up, before
that thread has declared anything), or of one with no subscriptions (the unacked set is
shared by every service on the broker).
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps

from .topology import EVENTS_EXCHANGE

CONNECTION_STEP = "celery.worker.consumer.connection:Connection"


class EventsExchangeDeclared(bootsteps.StartStopStep):
    """Declares the events exchange on the consumer's connection (again after a reconnect)."""

    requires = (CONNECTION_STEP,)

    def start(self, c: Any) -> None:
        EVENTS_EXCHANGE(c.connection.default_channel).declare()
