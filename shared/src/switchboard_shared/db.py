"""Database plumbing: one engine and session factory per service; SQLite (WAL) or PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy import JSON, Engine, MetaData, Table, create_engine, event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.cache_key import CacheKey

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A pooled connection idle longer than this is pinged before use; a busy one is not, because a
# ping is a whole round trip per transaction. A connection that died while busy fails its
# statement, which SQLAlchemy reports as a disconnect (the pool is then refreshed) and the kit
# classifies as a retryable database failure.
PING_AFTER_IDLE_S = 2.0
READ_POOL_SIZE = 20

JsonColumn = JSON().with_variant(JSONB(), "postgresql")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


S = TypeVar("S", bound=Executable)


def cached_constant(statement: S) -> S:
    """Let SQLAlchemy cache the compiled form of a prebuilt statement it cannot key itself.

    The dialects' `INSERT … ON CONFLICT` constructs opt out of the statement cache
    (`inherit_cache = False` in SQLAlchemy 2.0), so each execution compiled them anew: the
    gateway's order upsert cost more to compile than to run. A module-level statement that is
    executed with parameters only never changes, so one key per object is exact; its literal
    values are read from the compiled statement's own bind parameters as before.
    """
    key = CacheKey((f"switchboard-constant:{uuid.uuid4().hex}",), [])
    setattr(statement, "_generate_cache_key", lambda: key)  # noqa: B010  (on this object only)
    return statement


def per_dialect(build: Callable[[Any], S]) -> dict[str, S]:
    """`build(dialect module)` for each database the kit runs on, keyed by dialect name and
    cached (`cached_constant`): for upserts, which are written with each dialect's `insert`."""
    return {
        name: cached_constant(build(module))
        for name, module in (("postgresql", postgresql), ("sqlite", sqlite))
    }


_INSERT_NEW: dict[Table, dict[str, Any]] = {}


def insert_new(session: Session, row: DeclarativeBase) -> bool:
    """Insert a new mapped object's values unless a row with one of its keys exists; True if
    it was inserted. One `INSERT … ON CONFLICT DO NOTHING` in the session's transaction: no
    read before it and no ORM flush. The object itself stays out of the session.
    """
    table = cast(Table, type(row).__table__)
    statements = _INSERT_NEW.get(table)
    if statements is None:
        statements = _INSERT_NEW[table] = per_dialect(
            lambda dialect: (
                dialect.insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
            )
        )
    values = {
        column.key: value
        for column in table.columns
        if (value := getattr(row, column.key)) is not None  # absent: the column's default
    }
    connection = session.connection()
    return connection.execute(statements[connection.dialect.name], values).first() is not None


class KitBase(DeclarativeBase):
    """Tables the kit keeps in every service's database (outbox, inbox, dead letters)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock at BEGIN so two writers queue on busy_timeout instead of
    # failing on lock upgrade (SQLITE_BUSY is not retried mid-transaction).
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use psycopg 3 for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "isolation_level": None},
            **kwargs,
        )
        event.listen(engine, "connect", _tune_sqlite)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    kwargs.setdefault("pool_size", 5)
    # The connection used last is taken first: a transaction that follows another (a claim,
    # then the outcome) finds its server process still warm, not the one idle longest.
    kwargs.setdefault("pool_use_lifo", True)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, PING_AFTER_IDLE_S)
    return engine


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """`pool_pre_ping`, but only for connections that sat in the pool longer than `idle_s`."""

    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out a fresh one.
            raise exc.DisconnectionError(str(error)) from error

    event.listen(engine, "checkin", on_checkin)
    event.listen(engine, "checkout", on_checkout)


def create_read_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for reads only: on SQLite (WAL) it does not take the write lock at BEGIN, so
    readers never queue behind a writer; elsewhere it is `create_db_engine`."""
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        return create_db_engine(url, **kwargs)
    # Readers are served from a threadpool: a pool smaller than the concurrent requests would
    # open and close a connection (and run its PRAGMAs) per request beyond it.
    kwargs.setdefault("pool_size", READ_POOL_SIZE)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
    event.listen(engine, "connect", _tune_sqlite)
    return engine


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def create_all(engine: Engine, *metadatas: MetaData) -> None:
    """Create the kit's and the given tables (tests; production uses Alembic migrations)."""
    for metadata in (KitBase.metadata, *metadatas):
        metadata.create_all(engine)
