"""provider calls: refused ones as metadata only, one row per provider event

Revision ID: gateway_inbound
Revises: gateway_money
Create Date: 2026-12-08 00:10:00

A call whose signature failed kept its whole body: anyone could fill the disk. Those calls
move to `refused_webhooks` (size, source, reason, time; the gateway keeps the newest N) and
leave `inbound_webhooks`. A repeated provider event was a second row found by a SELECT
before the INSERT, which two concurrent deliveries both passed: `(provider, event_id)` is
unique now and a repeat only counts in `deliveries`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gateway_inbound"
down_revision: str | Sequence[str] | None = "gateway_money"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVE_REFUSED = """
INSERT INTO refused_webhooks (provider, source_address, size, reason, received_at)
SELECT provider, source_address, length(body), substr(coalesce(error, 'invalid'), 1, 300),
       received_at
FROM inbound_webhooks WHERE NOT valid ORDER BY received_at
"""
COUNT_DELIVERIES = """
UPDATE inbound_webhooks SET deliveries = (
    SELECT count(*) FROM inbound_webhooks AS other
    WHERE other.provider = inbound_webhooks.provider
      AND other.event_id = inbound_webhooks.event_id
)
WHERE valid AND NOT duplicate AND event_id IS NOT NULL
"""
DROP_REPEATS = "DELETE FROM inbound_webhooks WHERE duplicate OR NOT valid"
# Two concurrent deliveries could both have been processed: one row stays.
KEEP_ONE = """
DELETE FROM inbound_webhooks WHERE event_id IS NOT NULL AND id NOT IN (
    SELECT min(id) FROM inbound_webhooks WHERE event_id IS NOT NULL GROUP BY provider, event_id
)
"""


def upgrade() -> None:
    op.create_table(
        "refused_webhooks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refused_webhooks")),
    )
    with op.batch_alter_table("inbound_webhooks") as batch:
        batch.add_column(sa.Column("deliveries", sa.Integer(), server_default="1", nullable=False))
    for statement in (MOVE_REFUSED, COUNT_DELIVERIES, DROP_REPEATS, KEEP_ONE):
        op.execute(statement)
    with op.batch_alter_table("inbound_webhooks") as batch:
        batch.drop_index("ix_inbound_webhooks_provider_event")
        batch.create_unique_constraint(
            op.f("uq_inbound_webhooks_provider"), ["provider", "event_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_webhooks") as batch:
        batch.drop_constraint(op.f("uq_inbound_webhooks_provider"), type_="unique")
        batch.create_index("ix_inbound_webhooks_provider_event", ["provider", "event_id"])
        batch.drop_column("deliveries")
    op.drop_table("refused_webhooks")
