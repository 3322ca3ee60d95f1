"""Alembic operations the services' migrations share."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from alembic import op


def retype(
    tables: Iterable[str], column: str, old: sa.types.TypeEngine, new: sa.types.TypeEngine
) -> None:
    """Change `column`'s type in each table (batch mode, so SQLite rebuilds the table)."""
    for table in tables:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=new, existing_type=old)


def widen_money(tables: Iterable[str]) -> None:
    """`amount` becomes BIGINT: a 32-bit amount overflows at 21,474,836.47 in minor units."""
    retype(tables, "amount", sa.Integer(), sa.BigInteger())


def narrow_money(tables: Iterable[str]) -> None:
    retype(tables, "amount", sa.BigInteger(), sa.Integer())
