"""orders: money columns are 64-bit

Revision ID: orders_0003
Revises: orders_0002
Create Date: 2026-12-07 23:45:00
"""

from collections.abc import Sequence

from switchboard_shared.migration_ops import narrow_money, widen_money

revision: str = "orders_0003"
down_revision: str | Sequence[str] | None = "orders_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("orders",)


def upgrade() -> None:
    widen_money(TABLES)


def downgrade() -> None:
    narrow_money(TABLES)
