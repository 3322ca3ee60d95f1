"""Transactional outbox relay: publish committed events, right after commit and on a sweep."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from .publisher import EventPublisher
from .records import OutboxMessage, utcnow

log = logging.getLogger("switchboard.outbox")
SWEEP_BATCH = 500


class OutboxRelay:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        publisher: EventPublisher,
        *,
        pause_after_failure: float = 5.0,
    ) -> None:
        self.session_factory = session_factory
        self.publisher = publisher
        self.pause_after_failure = pause_after_failure
        self._paused_until = 0.0

    def publish_committed(self, rows: Sequence[OutboxMessage]) -> bool:
        """Publish rows just committed; on failure leave them for the sweep. True when sent."""
        if not rows:
            return True
        if time.monotonic() < self._paused_until:
            return False  # the broker just failed: don't stall every commit on it
        try:
            self.publisher.publish([row.envelope for row in rows])
        except Exception as exc:  # the broker may be down: the sweep publishes later
            self._paused_until = time.monotonic() + self.pause_after_failure
            log.warning("outbox publish deferred: %s: %s", type(exc).__name__, exc)
            return False
        self._mark_published([row.id for row in rows])
        return True

    def sweep(self, batch: int = SWEEP_BATCH) -> int:
        """Publish everything still pending, oldest first; returns how many were published."""
        total = 0
        while True:
            with self.session_factory() as session, session.begin():
                query = (
                    select(OutboxMessage)
                    .where(OutboxMessage.published_at.is_(None))
                    .order_by(OutboxMessage.created_at)
                    .limit(batch)
                )
                if session.bind is not None and session.bind.dialect.name == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                rows = list(session.scalars(query))
                if not rows:
                    return total
                self.publisher.publish([row.envelope for row in rows])
                now = utcnow()
                for row in rows:
                    row.published_at = now
                    row.attempts += 1
            total += len(rows)
            if len(rows) < batch:
                return total

    def pending_count(self) -> int:
        with self.session_factory() as session:
            return len(
                session.scalars(
                    select(OutboxMessage.id).where(OutboxMessage.published_at.is_(None))
                ).all()
            )

    def _mark_published(self, ids: list[str]) -> None:
        with self.session_factory() as session, session.begin():
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(published_at=utcnow(), attempts=OutboxMessage.attempts + 1)
            )
