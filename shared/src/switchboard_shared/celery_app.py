"""The Celery app factory: one app per service, with the platform's reliability defaults."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from celery import Celery, signals
from kombu import Queue

from .batching import EventBatchConsumer, check_batchable
from .beatlock import beat_settings
from .commands import CORRELATION_HEADER, confirmed_publishing, is_amqp
from .context import MessageContext
from .contracts import Envelope
from .deadletters import CapturedMessage
from .direct import send_to_queue
from .failures import FailureClass, ValidationFailure
from .liveness import stamp
from .logging import configure_logging
from .messagebus import handle_command, handle_event
from .opstasks import register_ops_tasks
from .redis_checks import require_noeviction
from .redis_transport import transport_for, unbind
from .runtime import ServiceDefinition, ServiceRuntime
from .task_events import BatchedTaskEvents
from .tasks import KitTask, kit_task
from .topology import (
    EVENTS_EXCHANGE,
    batched_events_queue_name,
    binding_key,
    command_queue,
    dead_letter_queue,
    event_task_name,
    events_queue,
    events_queue_name,
)

log = logging.getLogger("switchboard.app")
RESTORE_MUTEX_EXPIRE_S = 30


def build_queues(definition: ServiceDefinition) -> list[Queue]:
    platform = definition.platform
    amqp = is_amqp(platform.broker_url)
    queues = [command_queue(name) for name in definition.command_queues]
    if not definition.registry.events:
        return queues
    apart = definition.batches_apart
    queues.append(
        events_queue(
            definition.name,
            definition.task_event_types if apart else definition.registry.subscriptions,
            quorum=amqp,
            delivery_limit=platform.max_deliveries,
        )
    )
    if apart:
        queues.append(
            events_queue(
                definition.name,
                definition.batched_types,
                quorum=amqp,
                delivery_limit=platform.max_deliveries,
                batched=True,
            )
        )
    return queues


def _configure(app: Celery, definition: ServiceDefinition) -> None:
    platform = definition.platform
    amqp = is_amqp(platform.broker_url)
    transport: dict[str, Any] = {"visibility_timeout": platform.visibility_timeout}
    transport.update(confirmed_publishing(platform.broker_url))
    if not amqp:
        # Strict queue order: an urgent queue is always read before a bulk one.
        transport["queue_order_strategy"] = "priority"
        # kombu holds a Redis lock while it gives expired unacked messages back. A process
        # killed while holding it (a poison message restored by the worker it then kills)
        # would block every restore for kombu's default 300 s. Concurrent restores are safe
        # without it (each message is moved in a WATCH transaction), so it need not outlast
        # one scan by much (ADR 0006, addendum 1).
        transport["unacked_mutex_expire"] = RESTORE_MUTEX_EXPIRE_S
    app.conf.update(
        broker_url=platform.broker_url,
        broker_transport=transport_for(platform.broker_url),
        result_backend=platform.effective_redis_url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=definition.settings.prefetch_multiplier,
        worker_concurrency=definition.settings.worker_concurrency,
        task_soft_time_limit=platform.task_soft_time_limit,
        task_time_limit=platform.task_time_limit,
        worker_send_task_events=True,
        switchboard_task_events_window=platform.task_events_window_seconds,
        switchboard_task_events_batch_max=platform.task_events_batch_max,
        task_send_sent_event=True,
        task_track_started=True,
        task_queues=build_queues(definition),
        task_default_queue=definition.default_queue,
        task_routes=definition.task_routes,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        result_expires=7 * 24 * 3600,
        result_extended=True,
        worker_hijack_root_logger=False,
        worker_detect_quorum_queues=True,
        beat_schedule={**_kit_schedule(definition), **definition.beat_schedule},
        timezone="UTC",
    )


def _kit_schedule(definition: ServiceDefinition) -> dict[str, dict[str, Any]]:
    name = definition.name
    return {
        f"{name}.outbox_sweep": {
            "task": f"{name}.outbox_sweep",
            "schedule": definition.platform.outbox_sweep_seconds,
            "options": {"expires": definition.platform.outbox_sweep_seconds * 4},
        },
        f"{name}.liveness_probe": {
            "task": f"{name}.liveness_probe",
            "schedule": definition.platform.liveness_probe_seconds,
            "options": {"expires": definition.platform.liveness_probe_seconds * 2},
        },
    }


def _register_event_tasks(app: Celery, definition: ServiceDefinition) -> None:
    registry = definition.registry
    queue = events_queue_name(definition.name)
    for event_type in registry.subscriptions:

        def run(self: KitTask, envelope: Any, _expected: str = event_type) -> dict[str, Any]:
            if not isinstance(envelope, dict):
                raise ValidationFailure(
                    f"event message body must be an envelope object, got {type(envelope).__name__}"
                )
            parsed = Envelope.model_validate(envelope)
            if parsed.type != _expected:
                raise ValidationFailure(
                    f"envelope type {parsed.type!r} sent as {event_task_name(_expected)}"
                )
            ran = handle_event(parsed, registry, self.runtime.uow)
            return {"event_id": parsed.id, "handlers": ran}

        kit_task(app, event_task_name(event_type), queue=queue, ignore_result=True)(run)


def _register_command_tasks(app: Celery, definition: ServiceDefinition) -> None:
    registry = definition.registry
    for task_name, (model, _fn) in registry.commands.items():

        def run(self: KitTask, payload: Any, _name: str = task_name) -> Any:
            if not isinstance(payload, dict):
                raise ValidationFailure(
                    f"command payload must be an object, got {type(payload).__name__}"
                )
            correlation = getattr(self.request, CORRELATION_HEADER, None) or self.request.id
            context = MessageContext.new(str(correlation), causation_id=self.request.id)
            return handle_command(
                _name, payload, self.request.id, context, registry, self.runtime.uow
            )

        kit_task(app, task_name, queue=model.queue)(run)


def _register_kit_tasks(app: Celery, definition: ServiceDefinition) -> None:
    name = definition.name

    @kit_task(app, f"{name}.outbox_sweep", queue=definition.default_queue)
    def outbox_sweep(self: KitTask) -> int:
        return self.runtime.relay.sweep()

    @kit_task(app, f"{name}.liveness_probe", queue=definition.default_queue)
    def liveness_probe(self: KitTask) -> list[str]:
        names = [q.name for q in app.conf.task_queues]
        for queue in names:
            send_to_queue(
                app,
                f"{name}.liveness_ack",
                queue,
                args=[queue],
                expires=definition.platform.liveness_probe_seconds * 4,
            )
        return names

    @kit_task(app, f"{name}.liveness_ack", ignore_result=True)
    def liveness_ack(self: KitTask, queue: str) -> None:
        stamp(self.runtime.redis, name, queue, self.request.hostname or socket.gethostname())


def _connect_signals(app: Celery, definition: ServiceDefinition) -> None:
    platform = definition.platform

    @signals.setup_logging.connect(weak=False)
    def _logging(**_: Any) -> None:
        configure_logging(definition.name, platform.log_level, platform.log_json)

    @signals.worker_init.connect(weak=False)
    def _checks(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app:
            return
        if platform.is_redis_broker:
            require_noeviction(platform.broker_url)
        runtime: ServiceRuntime = app.runtime  # type: ignore[attr-defined,union-attr]
        runtime.create_schema()
        if is_amqp(platform.broker_url):
            _declare_dead_letter_queue(app, definition)
        if definition.batch_queue:
            _leave_batch_queue_to_batches(sender.app, definition.batch_queue)
        unbind_moved_types(app, definition)
        runtime.after_fork()

    batches: list[tuple[EventBatchConsumer, threading.Thread]] = []

    @signals.worker_ready.connect(weak=False)
    def _start_batches(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app or not definition.batch_queue:
            return
        queue = sender.app.amqp.queues[definition.batch_queue]  # declared, not consumed
        consumer = EventBatchConsumer(
            app,
            queue,
            max_messages=platform.event_batch_max_messages,
            max_wait=platform.event_batch_max_wait_seconds,
            linger=platform.event_batch_linger_seconds,
            window=definition.event_batch_window,
            worker=getattr(sender, "hostname", None),
        )
        batches.append((consumer, consumer.start()))

    @signals.worker_shutdown.connect(weak=False)
    def _stop_batches(**_: Any) -> None:
        for consumer, thread in batches:
            consumer.should_stop = True
            thread.join(10)
        batches.clear()

    @signals.worker_process_init.connect(weak=False)
    def _after_fork(**_: Any) -> None:
        app.runtime.after_fork()  # type: ignore[attr-defined]

    @signals.worker_process_shutdown.connect(weak=False)
    @signals.worker_shutdown.connect(weak=False)
    def _flush_outbox_marks(**_: Any) -> None:
        app.runtime.flush_outbox_marks()  # type: ignore[attr-defined]

    @signals.task_unknown.connect(weak=False)
    def _unknown(
        sender: Any = None, name: str = "", id: str = "", message: Any = None, **_: Any
    ) -> None:
        if getattr(sender, "app", None) is not app:
            return
        _dead_letter_raw(app, definition, name, id, message, f"unknown task/event type {name!r}")

    @signals.task_rejected.connect(weak=False)
    def _rejected(sender: Any = None, message: Any = None, exc: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app:
            return
        headers = getattr(message, "headers", {}) or {}
        _dead_letter_raw(
            app,
            definition,
            str(headers.get("task", "?")),
            str(headers.get("id", "?")),
            message,
            f"undecodable message: {exc}",
        )


def _declare_dead_letter_queue(app: Celery, definition: ServiceDefinition) -> None:
    """Where RabbitMQ parks event messages past the quorum delivery limit (kept, not consumed)."""
    if not definition.registry.events:
        return
    with app.connection_for_write() as connection:
        dead_letter_queue(definition.name)(connection.default_channel).declare()


def _leave_batch_queue_to_batches(app: Celery, queue: str) -> None:
    """The batch consumer reads this queue, so Celery's own consumer must not."""
    consumed = dict(app.amqp.queues.consume_from)
    consumed.pop(queue, None)
    app.amqp.queues.select(list(consumed))


def unbind_moved_types(app: Celery, definition: ServiceDefinition) -> None:
    """When a service batches some event types, each of its two events queues is unbound from
    the types the other one takes: a broker keeps a binding across deploys, so a type moved
    from one queue to the other would otherwise reach the service on both (ADR 0022,
    addendum 4). Unbinding a binding that is not there changes nothing."""
    if not definition.batches_apart:
        return
    moved = {
        events_queue_name(definition.name): definition.batched_types,
        batched_events_queue_name(definition.name): definition.task_event_types,
    }
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for name, types in moved.items():
            queue = app.amqp.queues[name]
            queue(channel).declare()
            for event_type in sorted(types):
                unbind(channel, queue, EVENTS_EXCHANGE, binding_key(event_type))


def _dead_letter_raw(
    app: Celery, definition: ServiceDefinition, name: str, task_id: str, message: Any, reason: str
) -> None:
    info = getattr(message, "delivery_info", {}) or {}
    queue = str(info.get("routing_key") or events_queue_name(definition.name))
    captured = CapturedMessage.from_kombu(message, queue, name, task_id)
    app.runtime.dead_letters.add(captured, reason=reason, classification=FailureClass.VALIDATION)  # type: ignore[attr-defined]
    log.error("dead-lettered: %s", reason)


def create_service_app(definition: ServiceDefinition) -> Celery:
    if definition.batch_events:
        check_batchable(definition)
    app = Celery(definition.name, set_as_current=False)
    _configure(app, definition)
    app.conf.update(beat_settings(definition.name, definition.platform))
    app.steps["consumer"].add(BatchedTaskEvents)
    app.runtime = ServiceRuntime(definition, app)  # type: ignore[attr-defined]
    _register_event_tasks(app, definition)
    _register_command_tasks(app, definition)
    _register_kit_tasks(app, definition)
    register_ops_tasks(app, definition)
    _connect_signals(app, definition)
    if definition.on_runtime is not None:
        definition.on_runtime(app.runtime)  # type: ignore[attr-defined]
    return app


__all__ = ["ServiceDefinition", "build_queues", "create_service_app", "dead_letter_queue"]
