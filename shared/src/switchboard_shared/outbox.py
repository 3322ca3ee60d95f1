"""Transactional outbox relay: publish committed events, right after commit and on a sweep."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from .publisher import EventPublisher
from .records import OutboxMessage, utcnow

log = logging.getLogger("switchboard.outbox")
SWEEP_BATCH = 500
_outbox = cast(Table, OutboxMessage.__table__)
MARK_PUBLISHED = (
    update(_outbox)
    .where(_outbox.c.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("now"), attempts=_outbox.c.attempts + 1)
)


class DeferredMarks:
    """Ids published right after their commit, marked in one UPDATE per `delay` seconds by a
    daemon thread instead of one transaction per commit (ADR 0019). A mark that never lands
    (a crash, a database error) only has the sweep publish that event again, which every inbox
    absorbs."""

    def __init__(self, mark: Callable[[list[str]], None], delay: float) -> None:
        self._mark, self._delay = mark, delay
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._ids: list[str] = []
        self._pending = threading.Event()

    def add(self, ids: Sequence[str]) -> None:
        if self._pid != os.getpid():
            self._start()  # first use, or first use in a forked worker process
        with self._lock:
            self._ids.extend(ids)
        self._pending.set()

    def flush(self) -> None:
        if self._pid != os.getpid():
            return
        with self._lock:
            ids, self._ids = self._ids, []
        if not ids:
            return
        try:
            self._mark(ids)
        except Exception as exc:
            log.warning("outbox marks dropped (the sweep publishes those again): %s", exc)

    def _start(self) -> None:
        # Nothing is inherited across a fork: a held lock would never be released here.
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._ids = []
        self._pending = threading.Event()
        threading.Thread(target=self._run, name="outbox-marks", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._pending.wait()
            time.sleep(self._delay)
            self._pending.clear()
            self.flush()


class OutboxRelay:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        publisher: EventPublisher,
        *,
        pause_after_failure: float = 5.0,
        mark_delay: float = 0.0,
    ) -> None:
        """`mark_delay` > 0 marks published rows in batches that often (`DeferredMarks`)."""
        self.session_factory = session_factory
        self.publisher = publisher
        self.pause_after_failure = pause_after_failure
        self._paused_until = 0.0
        self.marks = DeferredMarks(self._mark_published, mark_delay) if mark_delay > 0 else None

    def publish_committed(self, envelopes: Sequence[dict[str, Any]]) -> bool:
        """Publish the envelopes of outbox rows just committed; on failure leave the rows for
        the sweep. True when sent."""
        if not envelopes:
            return True
        if time.monotonic() < self._paused_until:
            return False  # the broker just failed: don't stall every commit on it
        try:
            self.publisher.publish(envelopes)
        except Exception as exc:  # the broker may be down: the sweep publishes later
            self._paused_until = time.monotonic() + self.pause_after_failure
            log.warning("outbox publish deferred: %s: %s", type(exc).__name__, exc)
            return False
        ids = [envelope["id"] for envelope in envelopes]
        if self.marks is not None:
            self.marks.add(ids)
        else:
            self._mark_published(ids)
        return True

    def sweep(self, batch: int = SWEEP_BATCH) -> int:
        """Publish everything still pending, oldest first; returns how many were published."""
        total = 0
        while True:
            with self.session_factory() as session, session.begin():
                # Only the columns the relay needs, and one UPDATE per batch: loading ORM
                # objects and flushing one UPDATE per row cost more than the publish itself.
                query = (
                    select(OutboxMessage.id, OutboxMessage.envelope)
                    .where(OutboxMessage.published_at.is_(None))
                    .order_by(OutboxMessage.created_at)
                    .limit(batch)
                )
                if session.bind is not None and session.bind.dialect.name == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                rows = session.execute(query).all()
                if not rows:
                    return total
                self.publisher.publish([envelope for _, envelope in rows])
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_([row_id for row_id, _ in rows]))
                    .values(published_at=utcnow(), attempts=OutboxMessage.attempts + 1),
                    execution_options={"synchronize_session": False},
                )
            total += len(rows)
            if len(rows) < batch:
                return total

    def pending_count(self) -> int:
        with self.session_factory() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.published_at.is_(None))
                )
                or 0
            )

    def _mark_published(self, ids: list[str]) -> None:
        with self.session_factory() as session, session.begin():
            # Core on the session's connection: the ORM's bulk UPDATE (compiling, evaluating
            # the session's objects) cost several times the statement, once per mark.
            connection = session.connection()
            if connection.dialect.name == "postgresql":
                # The mark only spares the sweep a re-publish, and a re-published event is a
                # no-op at every inbox: a mark lost in a crash costs nothing, so this commit
                # does not wait for the WAL flush (one fsync less per event-producing hop).
                connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            connection.execute(MARK_PUBLISHED, {"ids": ids, "now": utcnow()})
