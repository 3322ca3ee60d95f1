"""payments and invoices: money columns are 64-bit

Revision ID: payments_0003
Revises: payments_0002
Create Date: 2026-12-07 23:45:00
"""

from collections.abc import Sequence

from switchboard_shared.migration_ops import narrow_money, widen_money

revision: str = "payments_0003"
down_revision: str | Sequence[str] | None = "payments_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("payments", "invoices")


def upgrade() -> None:
    widen_money(TABLES)


def downgrade() -> None:
    narrow_money(TABLES)
