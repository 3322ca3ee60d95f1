"""`cached_constant`: prebuilt INSERT … ON CONFLICT statements compile once, and stay exact."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, case, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import CacheStats
from switchboard_shared.db import cached_constant, create_db_engine

pytestmark = pytest.mark.integration

metadata = MetaData()
SCORES = Table(
    "scores",
    metadata,
    Column("key", String(20), primary_key=True),
    Column("best", Integer, nullable=False),
    Column("note", String(20), nullable=False),
)


def keep_best(dialect: Any) -> Any:
    """An upsert with literals of its own (the CASE and the note), as the gateway's are."""
    insert = dialect.insert(SCORES)
    new, old = insert.excluded, SCORES.c
    return insert.on_conflict_do_update(
        index_elements=[old.key],
        set_={
            "best": case((new.best > old.best, new.best), else_=old.best),
            "note": literal("seen"),
        },
    )


STATEMENTS = {"postgresql": keep_best(postgresql), "sqlite": keep_best(sqlite)}
CACHED = {
    name: cached_constant(keep_best(d))
    for name, d in (("postgresql", postgresql), ("sqlite", sqlite))
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def test_sqlalchemy_does_not_cache_dialect_upserts_by_itself() -> None:
    """Why `cached_constant` exists; if SQLAlchemy learns to, the helper can go."""
    assert STATEMENTS["postgresql"]._generate_cache_key() is None
    assert STATEMENTS["sqlite"]._generate_cache_key() is None


def test_a_cached_constant_compiles_once_and_runs_as_built(engine: Engine) -> None:
    statement = CACHED[engine.dialect.name]
    hits = []
    with engine.begin() as connection:
        for best in (5, 3, 9, 7):
            result = connection.execute(statement, {"key": "k", "best": best, "note": "new"})
            hits.append(result.context.cache_hit == CacheStats.CACHE_HIT)
        connection.execute(
            statement,
            [{"key": "a", "best": 1, "note": "new"}, {"key": "b", "best": 2, "note": "new"}],
        )
        rows = {r.key: (r.best, r.note) for r in connection.execute(select(SCORES))}

    assert hits == [False, True, True, True], "compiled on first use, then served from the cache"
    assert rows == {"k": (9, "seen"), "a": (1, "new"), "b": (2, "new")}
