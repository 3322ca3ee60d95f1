"""`switchboard-ledger`: follows every service's Celery task events into the task ledger.

One long-running process (ADR 0014). Events are buffered and written in batches; on
RabbitMQ its event queue is durable and each batch is acknowledged only after it is
committed, so a restart loses nothing and resumes where it stopped. On Redis, events are
pub/sub: what happened while it was down is caught up from the result backend
(`reconcile`), and what the gateway submitted is in the ledger already (`LedgerSender`).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

from celery import Celery
from celery.events.receiver import EventReceiver

from switchboard_gateway.ledger.reconcile import Reconciler
from switchboard_gateway.ledger.writer import LedgerWriter

log = logging.getLogger("switchboard.ledger")
NODE_ID = "switchboard-ledger"


def is_amqp(url: str) -> bool:
    return url.startswith(("amqp://", "amqps://", "pyamqp://"))


class LedgerReceiver(EventReceiver):
    """An event receiver that writes what it received in batches, from its own thread."""

    def __init__(
        self,
        connection: Any,
        app: Celery,
        writer: LedgerWriter,
        reconciler: Reconciler | None = None,
        batch_size: int = 2000,
        flush_seconds: float = 0.25,
    ) -> None:
        self.durable = is_amqp(app.conf.broker_url or "")
        super().__init__(
            connection,
            handlers={"*": self._buffer},
            node_id=NODE_ID,
            app=app,
            queue_durable=self.durable,
            queue_exclusive=False,
            queue_expires=7 * 24 * 3600 if self.durable else None,
        )
        self.writer, self.reconciler = writer, reconciler
        self.batch_size, self.flush_seconds = batch_size, flush_seconds
        self.events: list[dict[str, Any]] = []
        self.messages: list[Any] = []
        self.last_flush = time.monotonic()
        self.written = 0

    def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:
        return [
            Consumer(
                queues=[self.queue],
                callbacks=[self._receive],
                no_ack=not self.durable,
                accept=self.accept,
            )
        ]

    def _receive(self, body: Any, message: Any, *args: Any, **kwargs: Any) -> None:
        super()._receive(body, message)
        if self.durable:
            self.messages.append(message)

    def _buffer(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if len(self.events) >= self.batch_size:
            self.flush()

    def on_iteration(self) -> None:
        if self.events and time.monotonic() - self.last_flush >= self.flush_seconds:
            self.flush()
        if self.reconciler is not None:
            self.reconciler.maybe_run()

    def flush(self) -> None:
        """Commit the buffered events, then acknowledge them; on failure keep them for later."""
        events, messages = self.events, self.messages
        try:
            self.written += self.writer.apply(events)
        except Exception:
            log.exception("ledger write failed; %d events kept for the next flush", len(events))
            time.sleep(1.0)
            return
        self.events, self.messages = [], []
        for message in messages:
            message.ack()
        self.last_flush = time.monotonic()


def run(app: Celery, writer: LedgerWriter, reconciler: Reconciler | None = None) -> None:
    """Follow task events until SIGTERM/SIGINT; the last batch is written before leaving."""
    with app.connection_for_read() as connection:
        receiver = LedgerReceiver(connection, app, writer, reconciler)

        def stop(signum: int, frame: Any) -> None:
            receiver.should_stop = True
            # A receiver stuck reconnecting to a broker that is gone never looks at
            # should_stop: leave anyway after a grace period.
            signal.signal(signal.SIGALRM, lambda *_: os._exit(1))
            signal.alarm(10)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("ledger following task events on %s", connection.as_uri())
        try:
            receiver.run(safety_interval=0.25, wakeup=False)
        finally:
            if receiver.events:
                receiver.flush()


def main() -> int:
    """`switchboard-ledger`: the task-ledger consumer, configured like the gateway."""
    from switchboard_shared.logging import configure_logging

    from switchboard_gateway.config import GatewayOpsSettings
    from switchboard_gateway.sender import make_celery_client
    from switchboard_gateway.store import GatewayStore

    settings = GatewayOpsSettings()
    configure_logging("ledger", settings.log_level, settings.log_json)
    session_factory = GatewayStore.from_settings(settings).runtime.session_factory
    app = make_celery_client(settings.broker_url, settings.effective_redis_url)
    writer = LedgerWriter(session_factory, settings.services)
    run(app, writer, Reconciler(app, session_factory, writer, settings.ledger_reconcile_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
