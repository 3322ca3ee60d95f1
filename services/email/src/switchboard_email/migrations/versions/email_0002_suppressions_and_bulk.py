"""suppression list and bulk campaigns

Revision ID: email_0002
Revises: email_0001
Create Date: 2026-11-26 11:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "email_0002"
down_revision: str | Sequence[str] | None = "email_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_suppressions")),
    )
    op.create_table(
        "bulk_campaigns",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("common_context", JSON, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("lanes", sa.Integer(), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_campaigns")),
    )
    op.create_table(
        "bulk_recipients",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("lane", sa.Integer(), nullable=False),
        sa.Column("to", sa.String(length=320), nullable=False),
        sa.Column("context", JSON, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "seq", name=op.f("pk_bulk_recipients")),
    )
    op.create_index(
        "ix_bulk_recipients_lane", "bulk_recipients", ["campaign_id", "lane", "outcome"]
    )


def downgrade() -> None:
    op.drop_index("ix_bulk_recipients_lane", table_name="bulk_recipients")
    op.drop_table("bulk_recipients")
    op.drop_table("bulk_campaigns")
    op.drop_table("suppressions")
