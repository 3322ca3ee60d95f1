"""order views: money columns are 64-bit

Revision ID: gateway_money
Revises: gateway_reports
Create Date: 2026-12-07 23:45:00
"""

from collections.abc import Sequence

from switchboard_shared.migration_ops import narrow_money, widen_money

revision: str = "gateway_money"
down_revision: str | Sequence[str] | None = "gateway_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("order_views",)


def upgrade() -> None:
    widen_money(TABLES)


def downgrade() -> None:
    narrow_money(TABLES)
