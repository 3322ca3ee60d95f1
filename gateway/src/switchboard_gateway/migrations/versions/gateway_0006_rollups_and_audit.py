"""task rollups, audit log, failures index

Revision ID: gateway_rollups_audit
Revises: gateway_inbound
Create Date: 2026-12-08 00:30:00

Stats read finished tasks from `task_rollups` instead of the whole ledger; a ledger that
predates them is counted into them here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "gateway_rollups_audit"
down_revision: str | Sequence[str] | None = "gateway_inbound"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_rollups",
        sa.Column("span", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("classification", sa.String(length=30), nullable=False),
        sa.Column("runtime_bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("retries", sa.BigInteger(), nullable=False),
        sa.Column("runtime_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "span",
            "bucket",
            "service",
            "name",
            "state",
            "classification",
            "runtime_bucket",
            name=op.f("pk_task_rollups"),
        ),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("correlation_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_log_key_at", ["key_id", "at"], unique=False)
    with op.batch_alter_table("task_ledger", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_ledger_failures", ["classification", "name", "completed_at"], unique=False
        )
    _count_existing_ledger()


def _count_existing_ledger() -> None:
    from switchboard_gateway.ledger.rollups import rebuild

    rebuild(Session(bind=op.get_bind()))


def downgrade() -> None:
    with op.batch_alter_table("task_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_task_ledger_failures")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_key_at")
        batch_op.drop_index("ix_audit_log_at")
    op.drop_table("audit_log")
    op.drop_table("task_rollups")
