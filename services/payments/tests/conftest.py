"""Payments fixtures: a fake provider, a temporary SQLite database and the in-process harness."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from payments_harness import DECLINE, SLOW, TRANSIENT_DECLINE, Harness
from sqlalchemy.orm import Session, sessionmaker
from switchboard_payments.adapters.fake import FakePaymentProvider
from switchboard_payments.models import Base
from switchboard_shared.db import create_all, create_db_engine, create_session_factory


@pytest.fixture
def provider() -> FakePaymentProvider:
    return FakePaymentProvider(
        decline={DECLINE: "card_declined", TRANSIENT_DECLINE: "processing_error"}, slow={SLOW}
    )


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'payments.db'}")
    create_all(engine, Base.metadata)
    yield create_session_factory(engine)
    engine.dispose()


@pytest.fixture
def harness(sqlite_db: sessionmaker[Session], provider: FakePaymentProvider) -> Harness:
    return Harness.build(sqlite_db, provider, unsettled_grace_seconds=0)
