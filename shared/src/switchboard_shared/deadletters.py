"""The dead-letter store: whole original messages that will not be retried, with the reason."""

from __future__ import annotations

import builtins
import json
import uuid
from dataclasses import dataclass
from typing import Any

from celery import Celery
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from .direct import send_to_queue
from .failures import FailureClass
from .records import DeadLetter, DeliveryCount, utcnow
from .storable import storable


@dataclass(frozen=True)
class CapturedMessage:
    task_id: str
    task_name: str
    queue: str
    body: dict[str, Any]

    @classmethod
    def from_request(cls, request: Any, queue: str) -> CapturedMessage:
        delivery_info = dict(getattr(request, "delivery_info", None) or {})
        return cls(
            task_id=str(request.id),
            task_name=str(request.task),
            queue=queue,
            body=_json_safe(
                {
                    "task": request.task,
                    "id": request.id,
                    "args": list(request.args or []),
                    "kwargs": dict(request.kwargs or {}),
                    "headers": {k: v for k, v in (request.headers or {}).items() if _jsonable(v)},
                    "retries": request.retries,
                    "delivery_info": {k: v for k, v in delivery_info.items() if _jsonable(v)},
                }
            ),
        )

    @classmethod
    def from_kombu(
        cls, message: Any, queue: str, task_name: str = "", task_id: str = ""
    ) -> CapturedMessage:
        """A broker message no task ran for; its args are kept (replayable) when it decodes."""
        headers = {
            k: v for k, v in (getattr(message, "headers", None) or {}).items() if _jsonable(v)
        }
        info = getattr(message, "delivery_info", None) or {}
        task_name = task_name or str(headers.get("task", "?"))
        task_id = task_id or str(headers.get("id", "?"))
        kept: dict[str, Any] = {
            "headers": headers,
            "delivery_info": {k: v for k, v in info.items() if isinstance(v, str | int | bool)},
        }
        try:
            body = message.decode() if message is not None else None
        except Exception:  # the body itself may be what is broken
            raw = getattr(message, "body", b"")
            body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        if isinstance(body, list | tuple) and len(body) >= 2:  # Celery protocol 2
            args, kwargs = body[0], body[1]
            if isinstance(args, list | tuple) and isinstance(kwargs, dict):
                kept |= {"task": task_name, "id": task_id, "args": list(args), "kwargs": kwargs}
                return cls(task_id, task_name, queue, _json_safe(kept))
        raw_body = body if isinstance(body, str | list | dict) else repr(body)
        return cls(task_id, task_name, queue, _json_safe({"raw": raw_body, **kept}))


def _json_safe(value: dict[str, Any]) -> dict[str, Any]:
    """Headers may carry datetimes (eta, expires): store them as ISO strings. A NUL, which
    PostgreSQL's JSON cannot hold (often why the message failed), is kept as U+FFFD."""
    return storable(json.loads(json.dumps(value, default=str)))  # type: ignore[no-any-return]


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | dict | type(None))


class DeadLetterStore:
    def __init__(self, session_factory: sessionmaker[Session], service: str) -> None:
        self.session_factory = session_factory
        self.service = service

    def add(
        self,
        message: CapturedMessage,
        *,
        reason: str,
        classification: FailureClass,
        exception_type: str | None = None,
        traceback: str | None = None,
        deliveries: int = 1,
    ) -> str:
        letter_id = str(uuid.uuid4())
        with self.session_factory() as session, session.begin():
            session.add(
                DeadLetter(
                    id=letter_id,
                    service=self.service,
                    task_name=message.task_name,
                    task_id=message.task_id,
                    queue=message.queue,
                    message=message.body,
                    reason=reason[:4000],
                    classification=str(classification),
                    exception_type=exception_type,
                    traceback=traceback,
                    deliveries=deliveries,
                )
            )
        return letter_id

    def list(self, limit: int = 50, offset: int = 0) -> builtins.list[DeadLetter]:
        with self.session_factory() as session:
            query = (
                select(DeadLetter)
                .order_by(DeadLetter.created_at.desc())
                .limit(limit)
                .offset(offset)
            )
            return list(session.scalars(query))

    def count(self) -> int:
        with self.session_factory() as session:
            return session.scalar(select(func.count(DeadLetter.id))) or 0

    def get(self, letter_id: str) -> DeadLetter | None:
        with self.session_factory() as session:
            return session.get(DeadLetter, letter_id)

    def for_task(self, task_id: str) -> builtins.list[DeadLetter]:
        with self.session_factory() as session:
            return list(session.scalars(select(DeadLetter).where(DeadLetter.task_id == task_id)))

    def delete(self, letter_id: str) -> bool:
        with self.session_factory() as session, session.begin():
            result = session.execute(delete(DeadLetter).where(DeadLetter.id == letter_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def replay(self, letter_id: str, app: Celery) -> str:
        """Send the original message again, to its original queue, as a new attempt."""
        letter = self.get(letter_id)
        if letter is None:
            raise LookupError(f"no dead letter {letter_id}")
        body = letter.message
        new_id = str(uuid.uuid4())
        headers = {**body.get("headers", {}), "replay_of": letter.task_id}
        for key in ("id", "task", "retries", "redelivered"):
            headers.pop(key, None)
        send_to_queue(
            app,
            letter.task_name,
            letter.queue,
            args=body.get("args", []),
            kwargs=body.get("kwargs", {}),
            task_id=new_id,
            headers=headers,
        )
        with self.session_factory() as session, session.begin():
            session.execute(
                update(DeadLetter).where(DeadLetter.id == letter_id).values(replayed_at=utcnow())
            )
        return new_id


def poison_reason(deliveries: int, bound: int) -> str | None:
    """Why a message delivered `deliveries` times must stop, or None while within `bound`."""
    if deliveries <= bound:
        return None
    return f"poison message: delivered {deliveries} times without completing"


class DeliveryCounter:
    """Counts the lost and redelivered deliveries of a message, to bound poison messages."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def add(self, task_id: str) -> int:
        """Record one more lost or redelivered delivery of a message; returns the total."""
        with self.session_factory() as session, session.begin():
            row = session.get(DeliveryCount, task_id, with_for_update=True)
            if row is None:
                row = DeliveryCount(task_id=task_id, deliveries=0)
                session.add(row)
            row.deliveries += 1
            row.updated_at = utcnow()
            return row.deliveries

    def count(self, task_id: str) -> int:
        with self.session_factory() as session:
            row = session.get(DeliveryCount, task_id)
            return row.deliveries if row else 0
