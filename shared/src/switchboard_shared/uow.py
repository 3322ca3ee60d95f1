"""Unit of work: one transaction for a handler's writes, its inbox record and its outbox events."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol, Self, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .context import MessageContext
from .contracts import Event
from .db import per_dialect
from .envelopes import wrap
from .outbox import OutboxRelay
from .records import InboxRecord, OutboxMessage, utcnow

# Prebuilt Core statements (their compiled forms are cached): the ORM's unit-of-work flush
# cost more than the INSERT itself on these once-per-message paths.
_INBOX = cast(Table, InboxRecord.__table__)
_OUTBOX_INSERT = insert(cast(Table, OutboxMessage.__table__))
_INBOX_CLAIM = insert(_INBOX)
_INBOX_RESULT = (
    update(_INBOX)
    .where(_INBOX.c.message_id == bindparam("m"), _INBOX.c.handler == bindparam("h"))
    .values(result=bindparam("r"))
)

# Claims for a batch of messages: a row already there is skipped, and RETURNING says which
# claims are new. One statement per dialect, built once.
_INBOX_CLAIM_NEW = per_dialect(
    lambda dialect: (
        dialect.insert(_INBOX)
        .on_conflict_do_nothing(index_elements=[_INBOX.c.message_id, _INBOX.c.handler])
        .returning(_INBOX.c.message_id, _INBOX.c.handler)
    )
)


class DuplicateMessage(Exception):
    """A concurrent delivery of the same message committed first."""


class UnitOfWork(Protocol):
    session: Session
    context: MessageContext

    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: Any) -> None: ...
    def publish(self, event: Event, *, subject: str | None = None) -> None: ...
    def record_handled(self, message_id: str, handler: str, result: Any = None) -> None: ...
    def store_result(self, message_id: str, handler: str, result: Any) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class SqlAlchemyUnitOfWork:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        service: str,
        context: MessageContext,
        relay: OutboxRelay | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.service = service
        self.context = context
        self.relay = relay
        self._outbox: list[dict[str, Any]] = []  # the outbox rows to write with the commit

    def __enter__(self) -> Self:
        self.session = self.session_factory()
        self._outbox = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()
        self.session.close()

    def publish(self, event: Event, *, subject: str | None = None) -> None:
        """Add the event to the outbox: its row is written with the commit."""
        envelope = wrap(event, service=self.service, context=self.context, subject=subject)
        self._outbox.append(
            {
                "id": envelope.id,
                "event_type": envelope.type,
                "routing_key": envelope.routing_key(),
                "envelope": envelope.model_dump(mode="json"),
                "created_at": utcnow(),
                "attempts": 0,
            }
        )

    def handled_result(self, message_id: str, handler: str) -> Any:
        record = self.session.get(InboxRecord, (message_id, handler))
        return record.result if record else None

    def record_handled(self, message_id: str, handler: str, result: Any = None) -> None:
        """Claim the message before the handler runs: inserting the inbox row now makes a
        concurrent delivery wait on it (PostgreSQL) or fail here, never inside the handler."""
        row = {"message_id": message_id, "handler": handler, "result": result}
        try:
            self.session.connection().execute(_INBOX_CLAIM, row)
        except IntegrityError as exc:
            self.session.rollback()
            raise DuplicateMessage(str(exc.orig)) from exc

    def claim_new(self, claims: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Claim many `(message id, handler)` pairs in one statement; returns those that were
        not claimed before (by an earlier delivery, or a concurrent one that committed)."""
        if not claims:
            return set()
        connection = self.session.connection()
        statement = _INBOX_CLAIM_NEW[connection.dialect.name]
        rows = [{"message_id": m, "handler": h, "result": None} for m, h in sorted(claims)]
        return {(m, h) for m, h in connection.execute(statement, rows)}

    def store_result(self, message_id: str, handler: str, result: Any) -> None:
        if result is not None:  # the claim stored None already
            self.session.connection().execute(
                _INBOX_RESULT, {"m": message_id, "h": handler, "r": result}
            )

    def commit(self) -> None:
        rows, self._outbox = self._outbox, []
        try:
            if rows:
                self.session.connection().execute(_OUTBOX_INSERT, rows)
            self.session.commit()
        except IntegrityError as exc:
            self.session.rollback()
            if "inbox" in str(exc.orig).lower() or "inbox" in str(exc.statement or "").lower():
                raise DuplicateMessage(str(exc.orig)) from exc
            raise
        if self.relay is not None:
            self.relay.publish_committed([row["envelope"] for row in rows])

    def rollback(self) -> None:
        self.session.rollback()
        self._outbox = []
