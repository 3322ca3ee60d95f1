"""money columns are 64-bit

Revision ID: gateway_money
Revises: gateway_reports
Create Date: 2026-12-07 23:45:00

A 32-bit amount overflows at 21,474,836.47 in minor units: an order that passed validation
failed in the database. Amounts are BIGINT everywhere (SQLite's INTEGER is 64-bit already).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gateway_money"
down_revision: str | Sequence[str] | None = "gateway_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("order_views",)


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("amount", type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("amount", type_=sa.Integer(), existing_type=sa.BigInteger())
