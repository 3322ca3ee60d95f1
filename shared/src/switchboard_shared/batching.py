"""Consuming a service's events queue in batches, in one transaction each (ADR 0022).

For a service whose event handlers keep their effects in its own database (no provider
call, no mail): one Celery task per event costs the worker more than the handler's writes,
and one commit per event costs the database a WAL flush each. Here a thread of the worker's
main process reads messages as long as more are ready (up to `event_batch_max_messages`, or
`event_batch_max_wait_seconds` after the first), runs the handlers for all of them in one
unit of work, commits, and only then acks them. The inbox is claimed for the whole batch in
one statement, in the same transaction as the effects, so a crash that redelivers the batch,
or a duplicate inside it, has one effect; idempotent handlers keep no inbox row.

A service whose handlers only keep a read model (the gateway's event log and views) may hold
each batch open for a `window` after its first event (ADR 0022, addendum 2): its work then
comes in one transaction after a flow's burst of events instead of one beside each of them, on
the cores that the flow's own services need.

A batch that fails for a reason a retry can fix (the database is down) is tried again after a
growing pause, its messages still unacked. One that fails for any other reason is split: each
message runs alone, and one that still fails is dead-lettered with its reason, so a failing
message never holds up the rest. A redelivered message (the worker died while it was in a
batch) runs alone and counted: past `max_deliveries` it is dead-lettered as a poison message.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kombu import Queue
from kombu.message import Message
from kombu.mixins import ConsumerMixin

from .context import MessageContext
from .contracts import Envelope, Event
from .deadletters import CapturedMessage, poison_reason
from .envelopes import unwrap
from .failures import FailureClass, ValidationFailure, classify, policies
from .liveness import stamp
from .messagebus import extra_parameters, handler_name
from .redis_batches import RedisBatchQueue
from .topology import event_task_name

if TYPE_CHECKING:
    from celery import Celery

    from .runtime import ServiceDefinition, ServiceRuntime

log = logging.getLogger("switchboard.batching")

BATCH_CONTEXT = {"envelope"}  # what a batched handler may ask for besides (event, uow)
RETRY_MAX_S = 10.0  # the longest pause between tries while the database is down
STAMP_EVERY_S = 1.0
IDLE_WAIT_S = 1.0  # how long the broker is waited on with nothing pending (and stop noticed)
ACCEPT = ["json"]


def check_batchable(definition: ServiceDefinition) -> None:
    """A batch that fails is run again message by message, so a handler's effects must all be
    in the transaction: a handler asking for a provider adapter (a mailer, a payment client)
    would repeat its calls for the other messages' sake."""
    registry = definition.registry
    unknown = definition.batched_types - set(registry.subscriptions)
    if unknown:
        raise ValueError(f"{definition.name}: batch_events names unhandled types {sorted(unknown)}")
    handlers = {fn for t in definition.batched_types for fn in registry.events[t]}
    calls_out = {
        handler_name(fn): extra
        for fn in handlers
        if (extra := [name for name in extra_parameters(fn) if name not in BATCH_CONTEXT])
    }
    if calls_out:
        raise ValueError(
            f"{definition.name}: batch_events needs handlers whose effects are all in the "
            f"database; these ask for adapters: {calls_out}"
        )


def _redelivered(message: Message) -> bool:
    return bool((message.delivery_info or {}).get("redelivered"))


@dataclass(frozen=True)
class _Item:
    message: Message
    envelope: Envelope
    event: Event


class EventBatchConsumer(ConsumerMixin):  # type: ignore[misc]
    def __init__(
        self,
        app: Celery,
        queue: Queue,
        *,
        max_messages: int,
        max_wait: float,
        linger: float,
        window: float = 0.0,
        worker: str | None = None,
    ) -> None:
        self.app = app
        self.runtime: ServiceRuntime = app.runtime  # type: ignore[attr-defined]
        self.registry = self.runtime.definition.registry
        self.queue = queue
        self.connection = app.connection_for_read()
        self.max_messages, self.max_wait, self.linger = max_messages, max_wait, linger
        self.window = window
        # The Celery worker it runs in: liveness shows one worker consuming all its queues.
        self.worker = worker or f"{self.runtime.service}@{socket.gethostname()}"
        self.pending: list[Message] = []
        self._oldest = 0.0
        self._stamped = 0.0
        self._retry_at = 0.0
        self._failures = 0
        self._batch_queue: RedisBatchQueue | None = None

    # -- kombu ------------------------------------------------------------------------------
    def get_consumers(self, consumer_class: Any, channel: Any) -> list[Any]:
        consumer = consumer_class(
            queues=[self.queue],
            callbacks=[self.on_message],
            accept=ACCEPT,
            prefetch_count=self.max_messages,
        )
        return [consumer]

    def on_message(self, _body: Any, message: Message) -> None:
        if not self.pending:
            self._oldest = time.monotonic()
        self.pending.append(message)
        if len(self.pending) >= self.max_messages:
            self.flush()

    def on_iteration(self) -> None:
        if self.pending and time.monotonic() - self._oldest >= max(self.max_wait, self.window):
            self.flush()

    def _window_left(self) -> float:
        """How long the pending batch is still held open for more events (`window`)."""
        return self._oldest + self.window - time.monotonic() if self.pending else 0.0

    def consume(
        self,
        limit: int | None = None,
        timeout: float | None = None,
        safety_interval: float = 1,
        **_: Any,
    ) -> Iterator[None]:
        """ConsumerMixin's loop, but a batch goes as soon as no further message is ready, so a
        lone event is not held for `max_wait` (latency under light load) while a burst still
        forms full batches."""
        with self.consumer_context() as (connection, channel, _consumers):
            on_redis = connection.transport.driver_type == "redis"
            bound = self.queue(channel)
            self._batch_queue = (
                RedisBatchQueue(channel, self.queue.name, ACCEPT)
                if RedisBatchQueue.supports(channel, self.queue.name)
                else None
            )
            while not self.should_stop:
                if on_redis and self.pending:
                    if (left := self._window_left()) > 0:  # no BRPOP left outstanding meanwhile
                        time.sleep(min(left, IDLE_WAIT_S))
                    self._take_ready_then_flush(bound)
                    yield
                    continue
                self.on_iteration()
                try:
                    connection.drain_events(timeout=self._wait(safety_interval))
                except TimeoutError:
                    connection.heartbeat_check()
                    if self._window_left() <= 0:
                        self.flush()
                except OSError:
                    if not self.should_stop:
                        raise
                else:
                    yield

    def _take_ready_then_flush(self, bound: Queue) -> None:
        """On Redis, with messages pending: take what else is queued without a blocking read,
        then handle the batch.

        kombu reads a Redis queue with BRPOP, which stays outstanding after a wait times out.
        Left waiting while the handlers run, it lets Redis pop the next message and send it to
        this process: if a handler then kills the process (a poison message, a SIGKILL), that
        message is in neither the queue nor kombu's unacked set, and is lost. RPOP (kombu's
        `basic_get`) records each message as unacked as it takes it, so nothing is in flight.

        With kombu's Redis channel, what is ready is taken in one round trip
        (`RedisBatchQueue`); otherwise it is counted first (one pipelined LLEN), since an
        empty `basic_get` is an RPOP per priority level, four round trips before a lone event
        could go.
        """
        room = self.max_messages - len(self.pending)
        if self._batch_queue is not None:
            taken = self._batch_queue.take(room)
        else:
            ready = bound.queue_declare().message_count
            taken = []
            for _ in range(min(ready, room)):
                message = bound.get(no_ack=False, accept=ACCEPT)
                if message is None:  # another consumer took it
                    break
                taken.append(message)
        for message in taken:
            self.on_message(None, message)
        self.flush()
        if self.pending:  # held back (the database is down): wait out the pause, not a BRPOP
            time.sleep(max(0.0, min(IDLE_WAIT_S, self._retry_at - time.monotonic())))

    def _wait(self, idle: float) -> float:
        if not self.pending:
            return idle
        backoff = self._retry_at - time.monotonic()
        wait = max(self.linger, self._window_left())
        return min(idle, backoff) if backoff > wait else wait

    def on_consume_end(self, connection: Any, channel: Any) -> None:
        self.flush()  # stopping: what was read is handled and acked, not left to redelivery

    def on_decode_error(self, message: Message, exc: Exception) -> None:
        self._dead_letter(message, f"undecodable message: {exc}", FailureClass.VALIDATION)
        message.ack()

    def start(self) -> threading.Thread:
        thread = threading.Thread(
            target=self.run,
            kwargs={"safety_interval": IDLE_WAIT_S},
            name=f"{self.queue.name}-batches",
            daemon=True,
        )
        thread.start()
        return thread

    # -- batches ----------------------------------------------------------------------------
    def flush(self) -> None:
        try:
            self._flush()
        except Exception:  # the consumer thread must not die; what is pending stays pending
            log.exception("event batch flush failed")

    def _flush(self) -> None:
        if not self.pending or time.monotonic() < self._retry_at:
            return
        messages, self.pending = self.pending, []
        runs = self._runs(messages)
        for position, run in enumerate(runs):
            try:
                if _redelivered(run[0].message) and not self._within_delivery_bound(run[0]):
                    run[0].message.ack()  # dead-lettered as a poison message
                    continue
            except Exception as exc:  # the count could not be kept: try again later
                self._back_off(exc, 1)
                done = 0
            else:
                done = self._handle(run)
            self._ack([item.message for item in run[:done]])
            if done < len(run):  # the database is down: the rest stays unacked and goes again
                rest = run[done:] + [item for later in runs[position + 1 :] for item in later]
                self.pending = [item.message for item in rest] + self.pending
                break
        self._stamp(force=False)

    def _ack(self, messages: list[Message]) -> None:
        if self._batch_queue is not None:
            self._batch_queue.ack(messages)  # one round trip for the batch
        else:
            for message in messages:
                message.ack()

    def _runs(self, messages: list[Message]) -> list[list[_Item]]:
        """The transactions to run: each redelivered message alone, the fresh ones as one batch.

        A redelivered message may be what killed the worker last time (a poison message): in a
        batch it would take the others down with it again. Alone, it is counted just before it
        runs, so the messages it held up are not, and past `max_deliveries` it is dead-lettered.
        What cannot be settled now (the database is down) stays pending.
        """
        fresh: list[_Item] = []
        runs: list[list[_Item]] = []
        for position, message in enumerate(messages):
            try:
                item = self._parse(message)
            except Exception as exc:
                self._back_off(exc, len(messages) - position)
                self.pending = messages[position:] + self.pending
                break
            if item is None:
                message.ack()  # answered (liveness) or dead-lettered
            elif _redelivered(message):
                runs.append([item])
            else:
                fresh.append(item)
        return runs + ([fresh] if fresh else [])

    def _within_delivery_bound(self, item: _Item) -> bool:
        task_id = str((item.message.headers or {}).get("id") or item.envelope.id)
        deliveries = self.runtime.delivery_counter.add(task_id) + 1
        reason = poison_reason(deliveries, self.runtime.platform.max_deliveries)
        if reason is not None:
            self._dead_letter(item.message, reason, FailureClass.RESOURCE)
        return reason is None

    def _parse(self, message: Message) -> _Item | None:
        """The event a message carries; anything else is answered (liveness) or dead-lettered."""
        task = str((message.headers or {}).get("task", ""))
        if task == f"{self.runtime.service}.liveness_ack":
            self._stamp(force=True)
            return None
        try:
            body: Any = message.decode()
            args: Any = body.get("args") if isinstance(body, dict) else body[0]  # protocol 1 / 2
            envelope = Envelope.model_validate(args[0])
            if task != event_task_name(envelope.type):
                raise ValidationFailure(f"envelope type {envelope.type!r} sent as {task!r}")
            event = unwrap(envelope)  # an unknown type or invalid data fails here, not in a batch
        except Exception as exc:
            self._dead_letter(message, f"invalid event message: {exc}", FailureClass.VALIDATION)
            return None
        return _Item(message, envelope, event)

    def _handle(self, batch: list[_Item]) -> int:
        """How many of the batch, from the start, are done: committed, or dead-lettered for a
        failure no retry fixes. A retryable failure (the database is down) stops there; the
        rest goes again after a backoff."""
        try:
            self._apply(batch)
            self._failures = 0
            return len(batch)
        except Exception as exc:
            if self._retry_later(exc, len(batch)):
                return 0
        for done, item in enumerate(batch):  # find what fails: one message at a time
            try:
                self._apply([item])
            except Exception as exc:
                if self._retry_later(exc, 1):
                    return done
                try:
                    self._dead_letter(item.message, f"{type(exc).__name__}: {exc}", classify(exc))
                except Exception as store_exc:
                    self._retry_later(store_exc, 1)
                    return done
        return len(batch)

    def _retry_later(self, exc: Exception, size: int) -> bool:
        if not policies()[classify(exc)].retries:
            return False
        self._back_off(exc, size)
        return True

    def _back_off(self, exc: Exception, size: int) -> None:
        self._failures += 1
        delay = min(RETRY_MAX_S, 0.2 * 2 ** min(self._failures, 8))
        self._retry_at = time.monotonic() + delay
        log.warning(
            "event batch of %d: %s: %s; again in %.1fs", size, type(exc).__name__, exc, delay
        )

    def _apply(self, items: list[_Item]) -> None:
        registry = self.registry
        # Each handler run with its inbox claim (None: an idempotent handler keeps none).
        runs = [
            (item, fn, None if fn in registry.idempotent else (item.envelope.id, handler_name(fn)))
            for item in items
            for fn in registry.events.get(item.envelope.type, [])
        ]
        with self.runtime.uow(MessageContext.caused_by(items[0].envelope)) as uow:
            new = uow.claim_new({claim for _, _, claim in runs if claim is not None})
            for item, fn, claim in runs:
                if claim is not None:
                    if claim not in new:  # handled before, or earlier in this batch
                        continue
                    new.discard(claim)
                uow.context = MessageContext.caused_by(item.envelope)
                registry.call(fn, item.event, uow, envelope=item.envelope)
            uow.commit()

    def _dead_letter(self, message: Message, reason: str, classification: FailureClass) -> None:
        captured = CapturedMessage.from_kombu(message, self.queue.name)
        self.runtime.dead_letters.add(captured, reason=reason, classification=classification)
        log.error("dead-lettered from %s: %s", self.queue.name, reason)

    def _stamp(self, *, force: bool) -> None:
        now = time.monotonic()
        if force or now - self._stamped >= STAMP_EVERY_S:
            self._stamped = now
            try:
                stamp(self.runtime.redis, self.runtime.service, self.queue.name, self.worker)
            except Exception as exc:  # liveness must never stop consumption
                log.warning("liveness stamp failed: %s", exc)
