"""Fixtures shared by the integrations tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from switchboard_integrations.models import Base
from switchboard_shared.db import create_all, create_db_engine, create_session_factory


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """The service's tables (and the kit's) in a fresh SQLite file."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'integrations.db'}")
    create_all(engine, Base.metadata)
    yield create_session_factory(engine)
    engine.dispose()
