"""Putting event envelopes on the wire as Celery task messages named `event.<type>`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from celery import Celery

from .topology import EVENTS_EXCHANGE, event_task_name

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
    """Publishes through the app's producer pool; confirms on RabbitMQ (`confirm_publish`)."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def publish(self, envelopes: Sequence[dict[str, Any]]) -> None:
        if not envelopes:
            return
        amqp = self.app.amqp
        with self.app.producer_or_acquire() as producer:
            # Declaring the exchange in this process is what makes kombu's Redis
            # transport route by topic rather than by exact key (ARCHITECTURE §8).
            producer.maybe_declare(EVENTS_EXCHANGE, retry=True, **PUBLISH_RETRY_POLICY)
            for envelope in envelopes:
                task_id = str(uuid.uuid4())
                message = amqp.as_task_v2(
                    task_id,
                    event_task_name(envelope["type"]),
                    args=[envelope],
                    kwargs={},
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
                    retry=True,
                    retry_policy=PUBLISH_RETRY_POLICY,
                    **message.properties,
                )


def _producer_of(envelope: dict[str, Any]) -> str:
    return str(envelope["source"]).rstrip("/").rsplit("/", 1)[-1]
