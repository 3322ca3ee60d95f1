"""The read model's read side: period facts and streamed rows, on a connection of their own.

Reads go through a plain engine: on SQLite the service engine opens every transaction with
BEGIN IMMEDIATE (the write lock), and a million-row read must not hold projections up.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, String, create_engine, func, select
from switchboard_shared.db import create_db_engine, normalise_url

from .kinds import KindSpec
from .models import DailyFact, EventFact

FactKey = tuple[date, str, str]
STREAM_BATCH = 5000


def read_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return create_engine(url)  # pysqlite begins no transaction for a SELECT
    return create_db_engine(url)


def _iso_time(engine: Engine) -> ColumnElement[Any]:
    """The row's time as ISO 8601 UTC text, formatted by the database (it is faster there)."""
    if engine.dialect.name == "postgresql":
        utc = func.timezone("UTC", EventFact.occurred_at)
        return func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    return func.strftime("%Y-%m-%dT%H:%M:%SZ", EventFact.occurred_at, type_=String)


class FactReader:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def for_url(cls, url: str) -> FactReader:
        return cls(read_engine(url))

    def daily_facts(self, start: date, end: date) -> dict[FactKey, int]:
        query = select(DailyFact.day, DailyFact.metric, DailyFact.key, DailyFact.value).where(
            DailyFact.day >= start, DailyFact.day <= end
        )
        with self.engine.connect() as connection:
            return {
                (day, metric, key): value for day, metric, key, value in connection.execute(query)
            }

    def _where(self, query: Select[Any], spec: KindSpec, start: date, end: date) -> Select[Any]:
        return query.where(
            EventFact.day >= start, EventFact.day <= end, EventFact.type.in_(spec.event_types)
        )

    def count_rows(self, spec: KindSpec, start: date, end: date) -> int:
        query = self._where(select(func.count()).select_from(EventFact), spec, start, end)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def rows(self, spec: KindSpec, start: date, end: date) -> Iterator[Sequence[Sequence[Any]]]:
        """Every row of the kind in the period, oldest first, in batches of `STREAM_BATCH`."""
        columns = (
            _iso_time(self.engine),
            EventFact.type,
            EventFact.subject,
            EventFact.key,
            EventFact.amount,
            EventFact.latency_ms,
            EventFact.detail,
        )
        query = self._where(select(*columns), spec, start, end).order_by(
            EventFact.day, EventFact.occurred_at
        )
        with self.engine.connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=STREAM_BATCH)
            yield from result.execute(query).partitions()
