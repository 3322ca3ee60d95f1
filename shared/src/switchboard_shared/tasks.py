"""The base task every service task runs on: poison bound, failure policy, logging, progress."""

from __future__ import annotations

import logging
import math
import traceback
from typing import Any, NoReturn

from billiard.exceptions import WorkerLostError
from celery import Task
from celery.exceptions import Ignore, Retry

from .commands import CORRELATION_HEADER
from .deadletters import CapturedMessage, poison_reason
from .failures import FailureClass, classify, policies, retry_after_of
from .logging import bind_task
from .progress import celery_sink, reporting_to
from .ratelimit import (
    SLOTS_HEADER,
    RateLimited,
    current_reservations,
    reservations,
    slots_from_header,
)
from .scheduling import guard_delay, reservation_horizon
from .topology import event_type_of, events_queue_name

log = logging.getLogger("switchboard.tasks")


class DeadLettered(Exception):
    """The message went to the dead-letter store and will not run again by itself."""


class KitTask(Task):
    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    # A lost worker's message is re-sent as a retry (to this service's own queue, see
    # signature_from_request) rather than rejected back: kombu's Redis transport restores a
    # rejected message through its original exchange, which re-routes a topic event.
    retry_on_worker_lost = True
    default_retry_delay = 1
    max_retries = None  # bounded per failure class (failures.policies) and by max_deliveries

    @property
    def runtime(self) -> Any:
        return self.app.runtime  # type: ignore[attr-defined]

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        guard_delay(self.app.conf, options.get("countdown"), options.get("eta"))
        return super().apply_async(args, kwargs, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.request.called_directly:
            return self.run(*args, **kwargs)
        rt = self.runtime
        bind_task(rt.service, self.request.id, self.name, self._correlation_id(args))
        deliveries = self._deliveries()
        if reason := poison_reason(deliveries, rt.platform.max_deliveries):
            self._dead_letter(FailureClass.RESOURCE, reason, None, deliveries)
            raise Ignore()
        held = slots_from_header(getattr(self.request, SLOTS_HEADER, None))
        with reservations(held, reservation_horizon(self.app.conf)):
            try:
                with reporting_to(celery_sink(self)):
                    return self.run(*args, **kwargs)
            except (Retry, Ignore):
                raise
            except RateLimited as exc:
                if exc.slot is not None:
                    log.info("rate limited: slot reserved in %.2fs", exc.retry_after)
                limited = exc
            except Exception as exc:
                self._apply_policy(exc)
                raise
            # Outside the `except`: a retry raised in there would carry the rate limit's whole
            # traceback as its context, and Celery formats all of it for every deferral.
            self.run_again(limited.retry_after or 1.0, reason=limited)

    def requeue(self, countdown: float = 0, *, args: Any = None, kwargs: Any = None) -> Any:
        """Publish this message again (same id, same queue, retry count unchanged), with
        `args`/`kwargs` replaced when given; the current run carries on."""
        if not self.runtime.platform.is_redis_broker:
            # RabbitMQ delays in whole seconds; never early, or a reserved slot re-queues twice.
            countdown = max(1, math.ceil(countdown))
        signature = self.signature_from_request(
            self.request, args, kwargs, countdown=countdown, retries=self.request.retries or 0
        )
        signature.apply_async()
        return signature

    def run_again(
        self,
        countdown: float,
        *,
        args: Any = None,
        kwargs: dict[str, Any] | None = None,
        reason: Exception | None = None,
    ) -> NoReturn:
        """End this run and have the message run again in `countdown` s (see `requeue`).

        For waits that are not failures: a rate-limit token (`reason` given: the task shows as
        retrying with it) or the next slice of long work (`args`/`kwargs` replaced: the task
        stays running and keeps its progress).
        """
        signature = self.requeue(countdown, args=args, kwargs=kwargs)
        if reason is not None:
            raise Retry(exc=reason, when=countdown, sig=signature)
        raise Ignore()

    def _deliveries(self) -> int:
        """Deliveries of this message so far; first deliveries cost no database round trip."""
        redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
        if not redelivered and not self.request.retries:
            return 1
        counter = self.runtime.delivery_counter
        lost = counter.add(self.request.id) if redelivered else counter.count(self.request.id)
        return lost + 1

    def on_retry(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Runs in the worker's main process when a pool child died under this message.
        if isinstance(exc, WorkerLostError):
            self.runtime.delivery_counter.add(task_id)

    def signature_from_request(
        self,
        request: Any = None,
        args: Any = None,
        kwargs: Any = None,
        queue: Any = None,
        **extra_options: Any,
    ) -> Any:
        """Events go back to this service's own queue, never through the exchange again."""
        signature = super().signature_from_request(request, args, kwargs, queue, **extra_options)
        _carry_slots(signature.options)
        if event_type_of(self.name) is not None:
            signature.options.update(
                exchange="", routing_key=events_queue_name(self.runtime.service)
            )
            signature.options.pop("queue", None)
        return signature

    def _apply_policy(self, exc: Exception) -> None:
        rt = self.runtime
        failure = classify(exc)
        policy = policies(rt.platform.retry_base_seconds, rt.platform.retry_max_attempts)[failure]
        retries = self.request.retries or 0
        if policy.retries and retries < policy.max_retries:
            countdown = policy.countdown(retries, retry_after_of(exc))
            if not rt.platform.is_redis_broker:
                countdown = max(1, round(countdown))  # RabbitMQ delays in whole seconds
            log.warning("retrying after %s failure in %.1fs: %s", failure, countdown, exc)
            raise self.retry(exc=exc, countdown=countdown, max_retries=policy.max_retries)
        reason = f"{failure} failure: {type(exc).__name__}: {exc}"
        if policy.retries:
            reason = f"retries exhausted ({retries}) after {reason}"
        self._dead_letter(failure, reason, exc)
        raise DeadLettered(reason) from exc

    def _queue(self) -> str:
        info = self.request.delivery_info or {}
        if event_type_of(self.name) is not None:
            return events_queue_name(self.runtime.service)
        return str(info.get("routing_key") or self.queue or self.runtime.definition.default_queue)

    def _dead_letter(
        self, failure: FailureClass, reason: str, exc: Exception | None, deliveries: int = 1
    ) -> None:
        message = CapturedMessage.from_request(self.request, self._queue())
        letter_id = self.runtime.dead_letters.add(
            message,
            reason=reason,
            classification=failure,
            exception_type=type(exc).__name__ if exc else None,
            traceback="".join(traceback.format_exception(exc)) if exc else None,
            deliveries=deliveries,
        )
        log.error("dead-lettered: %s", reason, extra={"dead_letter_id": letter_id})
        self.send_event(
            "task-dead-lettered",
            reason=reason,
            classification=str(failure),
            dead_letter_id=letter_id,
            exception_type=type(exc).__name__ if exc else None,
            message=str(exc) if exc else reason,
        )

    def _correlation_id(self, args: tuple[Any, ...]) -> str | None:
        header = getattr(self.request, CORRELATION_HEADER, None)
        if header:
            return str(header)
        if args and isinstance(args[0], dict):
            value = args[0].get("correlationid")
            return str(value) if value else None
        return None


def _carry_slots(options: dict[str, Any]) -> None:
    """The re-published message holds the slots this run reserved or has not used yet.

    Never the ones it was delivered with (used ones would go twice), and none when published
    outside the run (a lost worker's retry: its slots may have been used)."""
    headers = dict(options.get("headers") or {})
    headers.pop(SLOTS_HEADER, None)
    run = current_reservations()
    if run is not None and run.held:
        headers[SLOTS_HEADER] = dict(run.held)
    options["headers"] = headers


def kit_task(app: Any, name: str, **options: Any) -> Any:
    """`app.task` for a service's own task: bound, on `KitTask`, registered with this app only
    (several services' apps can share a process: tests, the standalone launcher)."""
    return app.task(name=name, bind=True, base=KitTask, shared=False, **options)
