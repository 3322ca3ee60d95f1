"""The reports branch migrates a database to exactly the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from switchboard_reports.models import Base
from switchboard_shared.db import create_db_engine
from switchboard_shared.migrate import service_versions_dir, target_metadata, upgrade

pytestmark = pytest.mark.integration


def test_migrations_match_the_models(database_url: str) -> None:
    upgrade(database_url, "reports", Base.metadata, service_versions_dir("reports"))
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, target_metadata(Base.metadata)) == []  # type: ignore[arg-type]
    finally:
        engine.dispose()
