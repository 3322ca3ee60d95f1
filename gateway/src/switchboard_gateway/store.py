"""The gateway's database, through the kit: its runtime gives sessions and an outbox."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError
from switchboard_shared.celery_app import create_service_app
from switchboard_shared.context import MessageContext
from switchboard_shared.db import per_dialect
from switchboard_shared.runtime import ServiceRuntime
from switchboard_shared.settings import PlatformSettings
from switchboard_shared.uow import SqlAlchemyUnitOfWork

from switchboard_gateway.app import build_definition
from switchboard_gateway.disclosure import shown
from switchboard_gateway.models import EventLogEntry, IdempotencyKey, OrderView

_ORDER_VIEWS = cast(Table, OrderView.__table__)


def _submitted(dialect: Any) -> Any:
    statement = dialect.insert(_ORDER_VIEWS)
    return statement.on_conflict_do_update(
        index_elements=["order_id"],
        set_={"task_id": statement.excluded.task_id},
        where=_ORDER_VIEWS.c.task_id.is_(None),
    )


_SUBMITTED = per_dialect(_submitted)


class IdempotencyConflict(Exception):
    """The key was used before with a different body."""


class GatewayStore:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    @classmethod
    def from_settings(cls, platform: PlatformSettings) -> GatewayStore:
        runtime: ServiceRuntime = create_service_app(build_definition(platform)).runtime  # type: ignore[attr-defined]
        runtime.create_schema()
        return cls(runtime)

    def uow(self, correlation_id: str) -> SqlAlchemyUnitOfWork:
        return self.runtime.uow(MessageContext.new(correlation_id))

    # -- orders ---------------------------------------------------------------------------
    def claim_idempotency_key(
        self, key: str, body_hash: str, order_id: str, task_id: str
    ) -> IdempotencyKey | None:
        """Claim `key` for a new order; returns the earlier claim when the key was used before.

        A claim is not an order: the order exists once its send is confirmed (its view)."""
        with self.runtime.session_factory() as session:
            try:
                with session.begin():
                    session.add(
                        IdempotencyKey(
                            key=key, body_hash=body_hash, order_id=order_id, task_id=task_id
                        )
                    )
                return None
            except IntegrityError:
                pass
        with self.runtime.session_factory() as session:
            earlier = session.get(IdempotencyKey, key)
        if earlier is None:  # claimed above, and keys are never deleted while in use
            raise RuntimeError(f"idempotency key {key!r} vanished after its claim")
        if earlier.body_hash != body_hash:
            raise IdempotencyConflict(key)
        return earlier

    def order_submitted(self, order_id: str, task_id: str, amount: int, currency: str) -> None:
        """The order's view with its task id; if its events made the view first, only the task
        id is added. One statement, no read."""
        row = {
            "order_id": order_id,
            "status": "pending_payment",
            "amount": amount,
            "currency": currency,
            "task_id": task_id,
        }
        with self.runtime.engine.begin() as connection:
            connection.execute(_SUBMITTED[connection.dialect.name], row)

    def order(self, order_id: str) -> OrderView | None:
        with self.runtime.session_factory() as session:
            return session.get(OrderView, order_id)

    # -- events ---------------------------------------------------------------------------
    def events(
        self,
        *,
        correlation_id: str | None = None,
        event_type: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[Sequence[EventLogEntry], int]:
        query = select(EventLogEntry)
        if correlation_id:
            query = query.where(EventLogEntry.correlation_id == correlation_id)
        if event_type:
            query = query.where(EventLogEntry.type == event_type)
        with self.runtime.session_factory() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(EventLogEntry.time, EventLogEntry.received_at)
                .limit(limit)
                .offset(offset)
            ).all()
        return rows, total


def event_json(entry: EventLogEntry, mask_personal: bool = True) -> dict[str, Any]:
    """An event of the log as a reader sees it: secrets never, personal data masked unless
    `mask_personal` is False (admin keys)."""
    return {
        "id": entry.id,
        "type": entry.type,
        "source": entry.source,
        "subject": entry.subject,
        "correlation_id": entry.correlation_id,
        "causation_id": entry.causation_id,
        "time": entry.time.isoformat(),
        "data": shown(entry.data, mask_personal),
    }


class LazyStore:
    """Opens the database on first use, so importing or building the app touches nothing."""

    def __init__(self, platform: PlatformSettings) -> None:
        self.platform = platform
        self._store: GatewayStore | None = None
        self._lock = threading.Lock()

    def get(self) -> GatewayStore:
        with self._lock:
            if self._store is None:
                self._store = GatewayStore.from_settings(self.platform)
            return self._store
