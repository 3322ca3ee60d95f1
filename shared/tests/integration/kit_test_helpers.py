"""A tiny domain table and database helpers for the kit's integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Integer, MetaData, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from switchboard_shared.db import NAMING_CONVENTION
from switchboard_shared.records import InboxRecord, OutboxMessage
from switchboard_shared.testsupport import database_sessions


class WidgetBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Widget(WidgetBase):
    __tablename__ = "kit_test_widgets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer, default=0)


@contextmanager
def kit_database(url: str) -> Iterator[sessionmaker[Session]]:
    """The kit's tables and the widget table on a fresh database; engine disposed after."""
    with database_sessions(url, WidgetBase.metadata) as factory:
        yield factory


def count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def widgets(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as session:
        return {w.id: w.size for w in session.scalars(select(Widget))}


def outbox(factory: sessionmaker[Session]) -> list[OutboxMessage]:
    with factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)))


def inbox_keys(factory: sessionmaker[Session]) -> set[tuple[str, str]]:
    with factory() as session:
        return {(r.message_id, r.handler) for r in session.scalars(select(InboxRecord))}
