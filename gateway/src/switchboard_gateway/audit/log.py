"""Writing and reading the audit log through the gateway's database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from switchboard_gateway.audit.models import AuditEntry
from switchboard_gateway.store import GatewayStore


def writer(store: GatewayStore) -> Any:
    def write(entry: AuditEntry) -> None:
        with store.runtime.session_factory() as session, session.begin():
            session.add(entry)

    return write


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    key_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        for column, value in (
            (AuditEntry.action, self.action),
            (AuditEntry.key_id, self.key_id),
            (AuditEntry.outcome, self.outcome),
        ):
            if value is not None:
                query = query.where(column == value)
        if self.since is not None:
            query = query.where(AuditEntry.at >= self.since)
        return query


def entries(
    store: GatewayStore, where: AuditFilter, limit: int, offset: int
) -> Sequence[AuditEntry]:
    query = where.apply(select(AuditEntry)).order_by(AuditEntry.at.desc(), AuditEntry.id)
    with store.runtime.session_factory() as session:
        return session.scalars(query.limit(limit).offset(offset)).all()


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "key_id": entry.key_id,
        "role": entry.role,
        "action": entry.action,
        "method": entry.method,
        "target": entry.target,
        "outcome": entry.outcome,
        "status": entry.status,
        "correlation_id": entry.correlation_id,
    }
