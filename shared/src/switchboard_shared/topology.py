"""Where messages go: the events exchange, per-service queues and their bindings."""

from __future__ import annotations

from collections.abc import Iterable

from kombu import Exchange, Queue, binding

EVENTS_EXCHANGE = Exchange("switchboard.events", type="topic", durable=True)
DEAD_LETTER_EXCHANGE = Exchange("switchboard.dlx", type="topic", durable=True)
EVENT_TASK_PREFIX = "event."


def event_task_name(event_type: str) -> str:
    return f"{EVENT_TASK_PREFIX}{event_type}"


def event_type_of(task_name: str) -> str | None:
    return task_name[len(EVENT_TASK_PREFIX) :] if task_name.startswith(EVENT_TASK_PREFIX) else None


def events_queue_name(service: str) -> str:
    return f"{service}.events"


def batched_events_queue_name(service: str) -> str:
    """Where a service that batches only some event types receives those (ADR 0022, add. 4)."""
    return f"{service}.events.batched"


def retry_key(service: str) -> str:
    """A key only this service's events queue is bound to: retries reach no other subscriber.

    Three words, so no `*.<type>` subscription can match it; native delayed delivery on
    RabbitMQ quorum queues forwards delayed retries by this key too.
    """
    return f"switchboard.retry.{service}"


def retry_route(service: str) -> Queue:
    """Where a retried event goes: the events exchange, by the service's retry key."""
    return Queue(
        events_queue_name(service),
        exchange=EVENTS_EXCHANGE,
        routing_key=retry_key(service),
        no_declare=True,
    )


def binding_key(event_type: str) -> str:
    """Routing keys are `<producer>.<type>`: a subscriber binds `*.<type>`, whoever produces it."""
    return f"*.{event_type}"


def events_queue(
    service: str,
    event_types: Iterable[str],
    *,
    quorum: bool = False,
    delivery_limit: int = 5,
    batched: bool = False,
) -> Queue:
    """The service's durable events queue, bound to each event type it handles (`batched`: the
    queue of its batched types, when it batches only some; nothing is retried through it, so
    it has no retry key of its own).

    On RabbitMQ it is a quorum queue with a delivery limit and a dead-letter exchange,
    so the broker itself bounds a message that keeps killing consumers.
    """
    name = batched_events_queue_name(service) if batched else events_queue_name(service)
    arguments: dict[str, object] = {}
    if quorum:
        arguments = {
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name,
            "x-dead-letter-routing-key": events_queue_name(service),
        }
    own_key = f"switchboard.batched.{service}" if batched else retry_key(service)
    types = sorted(event_types)
    queue = Queue(
        name,
        bindings=[
            *(binding(EVENTS_EXCHANGE, routing_key=binding_key(t)) for t in types),
            binding(EVENTS_EXCHANGE, routing_key=own_key),
        ],
        durable=True,
        queue_arguments=arguments or None,
    )
    # kombu clears `exchange` when bindings are given and Celery then fills in the default
    # exchange, which would also bind this queue to a command queue's key: pin it to the
    # events exchange with a key of the queue's own (three words: no subscription matches it).
    queue.exchange = EVENTS_EXCHANGE
    queue.routing_key = own_key
    return queue


def command_queue(name: str) -> Queue:
    return Queue(name, Exchange(name, type="direct", durable=True), routing_key=name, durable=True)


def dead_letter_queue(service: str) -> Queue:
    """Where RabbitMQ parks messages past the delivery limit; the kit drains it into the store."""
    return Queue(
        f"{service}.dead",
        exchange=DEAD_LETTER_EXCHANGE,
        routing_key=events_queue_name(service),
        durable=True,
    )
