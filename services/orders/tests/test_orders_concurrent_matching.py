"""Concurrent matching never oversells, on SQLite (WAL) and on a real PostgreSQL database,
with the schema built by the service's Alembic migrations."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from switchboard_orders.allocation import load_candidates, reserve
from switchboard_orders.commands import RematchUnmatched, SendPaymentReminders
from switchboard_orders.handlers import registry
from switchboard_orders.matching import Need
from switchboard_orders.models import Base, Order, Supplier
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.base import Command
from switchboard_shared.contracts.orders import CancelOrder, ListSuppliers
from switchboard_shared.contracts.payments import PaymentSucceeded
from switchboard_shared.db import create_db_engine, create_session_factory
from switchboard_shared.envelopes import wrap
from switchboard_shared.messagebus import handle_command, handle_event
from switchboard_shared.migrate import service_versions_dir, upgrade
from switchboard_shared.records import utcnow
from switchboard_shared.uow import SqlAlchemyUnitOfWork

pytestmark = pytest.mark.integration


@pytest.fixture
def db(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(database_url, "orders", Base.metadata, service_versions_dir("orders"))
    engine = create_db_engine(database_url, **_pool(database_url))
    yield create_session_factory(engine)
    engine.dispose()


def _pool(url: str) -> dict[str, Any]:
    return {} if url.startswith("sqlite") else {"pool_size": 10, "max_overflow": 10}


def uow_factory(db: sessionmaker[Session]) -> Callable[[MessageContext], SqlAlchemyUnitOfWork]:
    return lambda context: SqlAlchemyUnitOfWork(db, service="orders", context=context)


def seed(db: sessionmaker[Session], *, capacity: int, orders: int, quantity: int) -> None:
    with db() as session, session.begin():
        session.add(
            Supplier(
                id="sup_1",
                name="Only one",
                categories=["flowers", "plants"],
                region="eu-west",
                capacity=capacity,
                reserved=0,
                rating=4.0,
            )
        )
        for n in range(orders):
            session.add(
                Order(
                    id=f"ord_{n}",
                    status="pending_payment",
                    customer_email="buyer@example.com",
                    category="flowers",
                    region="eu-west",
                    quantity=quantity,
                    amount=100 * quantity,
                    currency="eur",
                    payment_method="pm_card_visa",
                )
            )


def pay(db: sessionmaker[Session], order_id: str, start: threading.Barrier | None = None) -> None:
    event = PaymentSucceeded(
        payment_id=f"pay_{order_id}", order_id=order_id, amount=300, currency="eur"
    )
    envelope = wrap(event, service="payments", context=MessageContext.new(order_id))
    if start is not None:
        start.wait(timeout=30)
    handle_event(envelope, registry, uow_factory(db))


def statuses(db: sessionmaker[Session]) -> dict[str, int]:
    with db() as session:
        rows = session.execute(select(Order.status, func.count()).group_by(Order.status)).all()
        return {status: count for status, count in rows}


def supplier(db: sessionmaker[Session]) -> Supplier:
    with db() as session:
        found = session.get(Supplier, "sup_1")
        assert found is not None
        return found


def test_eight_concurrent_matchers_never_oversell(db: sessionmaker[Session]) -> None:
    seed(db, capacity=10, orders=8, quantity=3)
    start = threading.Barrier(8)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(pay, db, f"ord_{n}", start) for n in range(8)]:
            future.result()

    assert statuses(db) == {"matched": 3, "unmatched": 5}
    assert supplier(db).reserved == 9
    with db() as session:
        matched = session.scalars(select(Order).where(Order.status == "matched")).all()
        assert {o.supplier_id for o in matched} == {"sup_1"}


def test_fifty_orders_against_capacity_ten_match_exactly_ten(db: sessionmaker[Session]) -> None:
    seed(db, capacity=10, orders=50, quantity=1)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(pay, db, f"ord_{n}") for n in range(50)]:
            future.result()

    assert statuses(db) == {"matched": 10, "unmatched": 40}
    assert supplier(db).reserved == 10


def test_matchers_working_from_stale_candidate_lists_never_oversell(
    db: sessionmaker[Session],
) -> None:
    """Every matcher reads the supplier as entirely free, then all reserve at once: only the
    conditional UPDATE stands between them and overselling."""
    seed(db, capacity=10, orders=0, quantity=3)
    need = Need(category="flowers", region="eu-west", quantity=3)
    seen = threading.Barrier(8)

    def match() -> bool:
        with db() as session:
            [candidate] = load_candidates(session, need)
            session.commit()
        assert candidate.free == 10
        seen.wait(timeout=30)
        with db() as session, session.begin():
            return reserve(session, candidate.supplier_id, need.quantity)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [f.result() for f in [pool.submit(match) for _ in range(8)]]

    assert results.count(True) == 3
    assert supplier(db).reserved == 9


def test_cancel_gives_the_capacity_back(db: sessionmaker[Session]) -> None:
    seed(db, capacity=10, orders=1, quantity=3)
    pay(db, "ord_0")
    assert supplier(db).reserved == 3
    context = MessageContext.new("ord_0")
    result = handle_command(
        CancelOrder.task_name,
        {"order_id": "ord_0"},
        "msg-1",
        context,
        registry,
        uow_factory(db),
    )
    assert result == {"order_id": "ord_0", "status": "cancelled", "was_paid": True}
    assert supplier(db).reserved == 0


def command(db: sessionmaker[Session], model: type[Command], **fields: Any) -> Any:
    payload = model(**fields).model_dump(mode="json")
    context = MessageContext.new("beat")
    return handle_command(
        model.task_name, payload, f"msg-{uuid.uuid4()}", context, registry, uow_factory(db)
    )


def test_rematch_and_reminders_run_on_the_database(db: sessionmaker[Session]) -> None:
    seed(db, capacity=4, orders=3, quantity=3)
    pay(db, "ord_0")
    pay(db, "ord_1")
    assert statuses(db) == {"matched": 1, "unmatched": 1, "pending_payment": 1}
    with db() as session, session.begin():
        session.execute(update(Order).values(created_at=utcnow() - timedelta(hours=30)))

    assert command(db, SendPaymentReminders, older_than_hours=24) == {"reminded": 1}
    assert command(db, SendPaymentReminders, older_than_hours=24) == {"reminded": 0}
    assert command(db, RematchUnmatched) == {"checked": 1, "matched": 0}
    command(db, CancelOrder, order_id="ord_0")
    assert command(db, RematchUnmatched) == {"checked": 1, "matched": 1}
    assert supplier(db).reserved == 3


def test_concurrent_rematch_runs_never_oversell(db: sessionmaker[Session]) -> None:
    seed(db, capacity=1, orders=8, quantity=3)
    for n in range(8):
        pay(db, f"ord_{n}")
    assert statuses(db) == {"unmatched": 8}
    with db() as session, session.begin():
        session.execute(update(Supplier).values(capacity=10))

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = [
            f.result() for f in [pool.submit(command, db, RematchUnmatched) for _ in range(4)]
        ]

    assert sum(r["matched"] for r in results) == 3
    assert statuses(db) == {"matched": 3, "unmatched": 5}
    assert supplier(db).reserved == 9


def test_suppliers_are_filtered_by_category_in_sql(db: sessionmaker[Session]) -> None:
    seed(db, capacity=10, orders=0, quantity=1)

    def listed(category: str) -> dict[str, Any]:
        payload = ListSuppliers(category=category).model_dump(mode="json")
        context = MessageContext.new("list")
        return handle_command(  # type: ignore[no-any-return]
            ListSuppliers.task_name, payload, f"msg-{category}", context, registry, uow_factory(db)
        )

    assert listed("plants")["total"] == 1
    assert listed("plants")["items"][0]["categories"] == ["flowers", "plants"]
    assert listed("plant")["total"] == 0, "membership, not substring"
    assert listed("books") == {"items": [], "total": 0}
