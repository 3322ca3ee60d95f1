"""The payments branch migrates a database to exactly the models, over existing payments too."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from switchboard_payments.models import Base
from switchboard_shared.db import create_db_engine
from switchboard_shared.migrate import (
    alembic_config,
    service_versions_dir,
    target_metadata,
    upgrade,
)

pytestmark = pytest.mark.integration


def test_migrations_match_the_models_and_keep_existing_payments(database_url: str) -> None:
    versions = service_versions_dir("payments")
    engine = create_db_engine(database_url)
    try:
        with engine.begin() as connection:
            config = alembic_config(
                metadata=Base.metadata, versions_dir=versions, connection=connection
            )
            command.upgrade(config, "payments_0001")
            command.upgrade(config, "kit@head")
            connection.execute(
                text(
                    "INSERT INTO payments (id, order_id, status, amount, currency, payment_method,"
                    " customer_email, created_at, updated_at) VALUES ('pay_old', 'old', 'pending',"
                    " 100, 'eur', 'pm_card_visa', 'a@example.com', CURRENT_TIMESTAMP,"
                    " CURRENT_TIMESTAMP)"
                )
            )
        upgrade(database_url, "payments", Base.metadata, versions)

        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT charge_attempts, retries, retryable FROM payments")
            ).one()
            assert tuple(row) == (0, 0, False)
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, target_metadata(Base.metadata)) == []  # type: ignore[arg-type]
    finally:
        engine.dispose()
