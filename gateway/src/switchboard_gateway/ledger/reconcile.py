"""Catching up from the result backend: tasks that finished while no event reached the ledger."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from switchboard_gateway.ledger.fold import TERMINAL
from switchboard_gateway.ledger.models import TaskRecord
from switchboard_gateway.ledger.writer import LedgerWriter

log = logging.getLogger("switchboard.ledger")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _timestamp(value: Any) -> float:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)
    else:
        return time.time()
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def event_from_meta(task_id: str, meta: dict[str, Any]) -> dict[str, Any] | None:
    """The task event a result-backend record stands for, or None when it says nothing new."""
    status = meta.get("status")
    base = {"uuid": task_id, "hostname": meta.get("worker"), "name": meta.get("name")}
    done = _timestamp(meta.get("date_done"))
    if status == "SUCCESS":
        return {
            **base,
            "type": "task-succeeded",
            "result": repr(meta.get("result")),
            "timestamp": done,
        }
    if status == "FAILURE":
        return {
            **base,
            "type": "task-failed",
            "exception": repr(meta.get("result")),
            "timestamp": done,
        }
    if status == "REVOKED":
        return {**base, "type": "task-revoked", "timestamp": done}
    if status == "PROGRESS" and isinstance(meta.get("result"), dict):
        return {**base, "type": "task-progress", **meta["result"], "timestamp": time.time()}
    if status == "STARTED":
        return {**base, "type": "task-started", "timestamp": time.time()}
    return None


class Reconciler:
    """Every `every` seconds, looks up unfinished ledger rows in the result backend."""

    def __init__(
        self,
        app: Celery,
        session_factory: sessionmaker[Session],
        writer: LedgerWriter,
        every: float = 15.0,
        batch: int = 200,
    ) -> None:
        self.app, self.session_factory, self.writer = app, session_factory, writer
        self.every, self.batch = every, batch
        self.next_run = 0.0
        self.cursor = EPOCH

    def maybe_run(self) -> None:
        if time.monotonic() >= self.next_run:
            self.next_run = time.monotonic() + self.every
            try:
                self.run_once()
            except Exception:
                log.exception("ledger reconciliation failed")

    def run_once(self) -> int:
        rows = self._unfinished()
        self.cursor = rows[-1][1] if len(rows) == self.batch else EPOCH
        events = [e for task_id, _ in rows if (e := self._event(task_id)) is not None]
        return self.writer.apply(events) if events else 0

    def _unfinished(self) -> list[tuple[str, datetime]]:
        settled = datetime.now(UTC) - timedelta(seconds=min(5.0, self.every))
        query = (
            select(TaskRecord.task_id, TaskRecord.created_at)
            .where(TaskRecord.state.not_in(TERMINAL), TaskRecord.created_at > self.cursor)
            .where(TaskRecord.created_at < settled, ~TaskRecord.name.startswith("event."))
            .order_by(TaskRecord.created_at)
            .limit(self.batch)
        )
        with self.session_factory() as session:
            return [(task_id, created) for task_id, created in session.execute(query)]

    def _event(self, task_id: str) -> dict[str, Any] | None:
        meta = self.app.backend.get_task_meta(task_id)
        return event_from_meta(task_id, meta)
