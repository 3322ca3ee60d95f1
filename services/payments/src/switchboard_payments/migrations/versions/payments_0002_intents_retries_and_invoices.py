"""intents, retries and invoices

Revision ID: payments_0002
Revises: payments_0001
Create Date: 2026-11-23 15:33:52.494230

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "payments_0002"
down_revision: str | Sequence[str] | None = "payments_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Reviewed: the new NOT NULL columns carry server defaults, so existing payments migrate
    # (0 attempts and retries, not retryable); `sa.false()` renders FALSE on PostgreSQL and 0 on
    # SQLite. Invoice numbers come from `invoice_counters` (one row per year).
    op.create_table(
        "invoice_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_invoice_counters")),
    )
    op.create_table(
        "invoices",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_invoices")),
        sa.UniqueConstraint("order_id", name=op.f("uq_invoices_order_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("intent_id", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("charge_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("retries", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("failure_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("decline_code", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("retryable", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("refund_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("mismatch", sa.String(length=300), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_payments_intent_id"), ["intent_id"])


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_payments_intent_id"), type_="unique")
        batch_op.drop_column("mismatch")
        batch_op.drop_column("refund_id")
        batch_op.drop_column("retryable")
        batch_op.drop_column("decline_code")
        batch_op.drop_column("failure_reason")
        batch_op.drop_column("retries")
        batch_op.drop_column("charge_attempts")
        batch_op.drop_column("intent_id")

    op.drop_table("invoices")
    op.drop_table("invoice_counters")
