"""Writing the ledger: a batch of Celery events becomes one upsert per table."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_shared.db import per_dialect

from switchboard_gateway.ledger import rollups
from switchboard_gateway.ledger.fold import (
    EVENT_TASK_PREFIX,
    TASK_EVENTS,
    apply_event,
    new_row,
    row_key,
    service_of_host,
    service_of_task,
    when,
)
from switchboard_gateway.ledger.models import TaskRecord, WorkerRecord

CHUNK = 500
PRUNE_EVERY_SECONDS = 600.0
TASK_TABLE: Table = TaskRecord.__table__  # type: ignore[assignment]
WORKER_TABLE: Table = WorkerRecord.__table__  # type: ignore[assignment]
WORKER_EVENTS = frozenset({"worker-online", "worker-heartbeat", "worker-offline"})


def upsert(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], keep: Iterable[str] = ()
) -> None:
    """INSERT … ON CONFLICT (primary key) DO UPDATE, on SQLite and PostgreSQL alike."""
    if not rows:
        return
    key = frozenset(column.name for column in table.primary_key.columns)
    updated = frozenset(rows[0]) - key - frozenset(keep)
    statement = _upserts(table, updated)[session.get_bind().dialect.name]
    for start in range(0, len(rows), CHUNK):
        session.execute(statement, list(rows[start : start + CHUNK]))


@cache
def _upserts(table: Table, updated: frozenset[str]) -> dict[str, Any]:
    """Built once per table and column set, and compiled once (the ledger upserts for every
    command the API submits)."""
    key = [column.name for column in table.primary_key.columns]

    def build(dialect: Any) -> Any:
        statement = dialect.insert(table)
        excluded = {name: statement.excluded[name] for name in sorted(updated)}
        return statement.on_conflict_do_update(index_elements=key, set_=excluded)

    return per_dialect(build)


def _aware(row: Any) -> dict[str, Any]:
    """SQLite hands back naive datetimes; the ledger's are all UTC."""
    return {
        key: value.replace(tzinfo=UTC)
        if isinstance(value, datetime) and value.tzinfo is None
        else value
        for key, value in row.items()
    }


class LedgerWriter:
    def __init__(self, session_factory: sessionmaker[Session], services: Iterable[str]) -> None:
        self.session_factory = session_factory
        self.services = frozenset(services)
        self._names: dict[str, str] = {}  # task id → name, for events that carry no name
        self._pruned_at = 0.0

    def record_submission(self, task_id: str, name: str, queue: str, timestamp: float) -> None:
        row = new_row(task_id, task_id, name, service_of_task(name, None, self.services), timestamp)
        row["queue"] = queue
        with self.session_factory() as session, session.begin():
            upsert(session, TASK_TABLE, [row], keep=set(row) - {"name", "service", "queue"})
        self._remember(task_id, name)

    def apply(self, events: Sequence[dict[str, Any]]) -> int:
        """Fold `events` into the ledger in one transaction; returns the task events applied."""
        tasks = [e for e in events if e.get("type") in TASK_EVENTS and e.get("uuid")]
        workers = [e for e in events if e.get("type") in WORKER_EVENTS and e.get("hostname")]
        with self.session_factory() as session, session.begin():
            self._apply_tasks(session, tasks)
            upsert(session, WORKER_TABLE, self._worker_rows(workers))
        return len(tasks)

    def _apply_tasks(self, session: Session, events: list[dict[str, Any]]) -> None:
        for event in events:
            if event.get("name"):
                self._remember(event["uuid"], event["name"])
        self._load_names(session, {e["uuid"] for e in events} - set(self._names))
        keyed = [(self._key(event), event) for event in events]
        rows = self._existing(session, {key for key, _ in keyed})
        before = {key: dict(row) for key, row in rows.items()}
        for key, event in sorted(keyed, key=lambda pair: float(pair[1].get("timestamp") or 0)):
            row = rows.get(key)
            if row is None:
                row = rows[key] = self._new(key, event)
            apply_event(row, event)
        upsert(session, TASK_TABLE, list(rows.values()))
        rollups.apply_changes(
            session, rollups.changes((before.get(key), row) for key, row in rows.items())
        )
        self._prune(session)

    def _prune(self, session: Session) -> None:
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._pruned_at = time.monotonic()
            rollups.prune_minutes(session)

    def _key(self, event: dict[str, Any]) -> str:
        name = self._names.get(event["uuid"], "")
        return row_key(
            event["uuid"], name, service_of_task(name, event.get("hostname"), self.services)
        )

    def _new(self, key: str, event: dict[str, Any]) -> dict[str, Any]:
        name = self._names.get(event["uuid"], "")
        service = service_of_task(name, event.get("hostname"), self.services)
        return new_row(key, event["uuid"], name, service, float(event.get("timestamp") or 0))

    def _existing(self, session: Session, keys: set[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        ordered = sorted(keys)
        for start in range(0, len(ordered), CHUNK):
            query = select(TASK_TABLE).where(TASK_TABLE.c.id.in_(ordered[start : start + CHUNK]))
            found.update({row["id"]: _aware(row) for row in session.execute(query).mappings()})
        return found

    def _load_names(self, session: Session, task_ids: set[str]) -> None:
        ordered = sorted(task_ids)
        for start in range(0, len(ordered), CHUNK):
            query = select(TASK_TABLE.c.task_id, TASK_TABLE.c.name).where(
                TASK_TABLE.c.task_id.in_(ordered[start : start + CHUNK])
            )
            for task_id, name in session.execute(query):
                self._remember(task_id, name)

    def _remember(self, task_id: str, name: str) -> None:
        if len(self._names) > 200_000:
            self._names.clear()  # a bound, not a cache policy: misses fall back to the database
        self._names[task_id] = name

    def _worker_rows(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for event in sorted(events, key=lambda e: float(e.get("timestamp") or 0)):
            latest[event["hostname"]] = {
                "hostname": event["hostname"],
                "service": service_of_host(event["hostname"], self.services) or "unknown",
                "online": event["type"] != "worker-offline",
                "last_heartbeat": float(event.get("timestamp") or 0),
                "active": int(event.get("active") or 0),
                "processed": int(event.get("processed") or 0),
                "loadavg": list(event.get("loadavg") or []),
                "software": f"{event.get('sw_ident', '')} {event.get('sw_ver', '')}".strip()
                or None,
            }
        return list(latest.values())


__all__ = ["EVENT_TASK_PREFIX", "LedgerWriter", "upsert", "when"]
