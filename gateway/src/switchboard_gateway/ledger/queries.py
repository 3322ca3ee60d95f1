"""Reading the task ledger: one task, filtered lists and counts, and the rows stats work on."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Select, bindparam, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from switchboard_shared.db import create_read_engine

from switchboard_gateway.ledger.models import TaskRecord
from switchboard_gateway.ledger.writer import LedgerWriter

if TYPE_CHECKING:
    from switchboard_gateway.store import LazyStore


@dataclass(frozen=True)
class TaskFilter:
    state: str | None = None
    service: str | None = None
    name: str | None = None
    since: datetime | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.state:
            query = query.where(TaskRecord.state == self.state)
        if self.service:
            query = query.where(TaskRecord.service == self.service)
        if self.name:
            query = query.where(TaskRecord.name == self.name)
        if self.since:
            query = query.where(TaskRecord.created_at >= self.since)
        return query


def aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def task_json(row: Any) -> dict[str, Any]:
    """A ledger row (ORM object or mapping) as the API answers it."""
    if not isinstance(row, TaskRecord):
        row = _Row(row)
    error = None
    if row.error_type or row.error_message or row.classification:
        error = {
            "type": row.error_type,
            "message": row.error_message,
            "classification": row.classification,
        }
    moments = {k: aware(getattr(row, k)) for k in ("created_at", "started_at", "completed_at")}
    return {
        "task_id": row.id,
        "name": row.name,
        "service": row.service,
        "queue": row.queue,
        "state": row.state,
        "progress": row.progress,
        "current_step": row.current_step,
        "result": row.result,
        "error": error,
        "retries": row.retries,
        "runtime": row.runtime,
        "worker": row.worker,
        "dead_letter_id": row.dead_letter_id,
        **{k: v.isoformat() if v else None for k, v in moments.items()},
    }


class _Row:
    """Attribute access over a row mapping (the read path skips the ORM)."""

    def __init__(self, mapping: Any) -> None:
        self._mapping = mapping

    def __getattr__(self, name: str) -> Any:
        return self._mapping[name]


TASKS = TaskRecord.__table__
BY_ID = select(TASKS).where(TASKS.c.id == bindparam("key"))
BY_TASK_ID = select(TASKS).where(TASKS.c.task_id == bindparam("key")).limit(1)


class TaskLedger:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        services: Iterable[str],
        read_engine: Engine | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.writer = LedgerWriter(session_factory, services)
        self.read_engine = read_engine or session_factory.kw["bind"]

    def lookup(self, task_id: str) -> Any:
        """One task as a row mapping, by ledger id or bare task id; the hot read path (Core)."""
        with self.read_engine.connect() as connection:
            row = connection.execute(BY_ID, {"key": task_id}).mappings().first()
            if row is None:  # an event delivery asked for by its bare task id
                row = connection.execute(BY_TASK_ID, {"key": task_id}).mappings().first()
        return row

    async def read(self, task_id: str) -> Any:
        """`lookup` for an async route. On SQLite it runs inline: a point read of a local WAL
        database never waits for a writer and costs less than the hop to the threadpool.
        Elsewhere it is a network round trip, so it goes to the threadpool."""
        if self.read_engine.dialect.name == "sqlite":
            return self.lookup(task_id)
        return await run_in_threadpool(self.lookup, task_id)

    def record_submission(self, task_id: str, name: str, queue: str) -> None:
        self.writer.record_submission(task_id, name, queue, time.time())

    def get(self, task_id: str) -> TaskRecord | None:
        with self.session_factory() as session:
            row = session.get(TaskRecord, task_id)
            if row is None:  # an event delivery asked for by its bare task id
                query = select(TaskRecord).where(TaskRecord.task_id == task_id).limit(1)
                row = session.scalars(query).first()
            return row

    def search(
        self, where: TaskFilter, limit: int, offset: int
    ) -> tuple[Sequence[TaskRecord], int]:
        query = where.apply(select(TaskRecord))
        with self.session_factory() as session:
            rows = session.scalars(
                query.order_by(TaskRecord.created_at.desc()).limit(limit).offset(offset)
            ).all()
        return rows, self.count(where)

    def count(self, where: TaskFilter) -> int:
        with self.session_factory() as session:
            return session.scalar(where.apply(select(func.count(TaskRecord.id)))) or 0

    def count_by_state(self, where: TaskFilter) -> dict[str, int]:
        query = where.apply(select(TaskRecord.state, func.count(TaskRecord.id)))
        with self.session_factory() as session:
            return {state: n for state, n in session.execute(query.group_by(TaskRecord.state))}

    def active_by_service(self) -> dict[str, int]:
        query = (
            select(TaskRecord.service, func.count(TaskRecord.id))
            .where(TaskRecord.state.in_(("received", "running")))
            .group_by(TaskRecord.service)
        )
        with self.session_factory() as session:
            return {service: n for service, n in session.execute(query)}


class LazyLedger:
    """The ledger over the gateway's database, opened on first use (like `LazyStore`)."""

    def __init__(self, store: LazyStore, services: Iterable[str]) -> None:
        self.store, self.services = store, list(services)
        self._ledger: TaskLedger | None = None

    def get(self) -> TaskLedger:
        if self._ledger is None:
            runtime = self.store.get().runtime
            reader = create_read_engine(runtime.database_url)
            self._ledger = TaskLedger(runtime.session_factory, self.services, reader)
        return self._ledger
