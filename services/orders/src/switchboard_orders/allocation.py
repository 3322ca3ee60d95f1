"""Matching against the database: find candidates, reserve capacity atomically, release it.

The reservation is one conditional UPDATE (`reserved = reserved + q WHERE free >= q`): the
database decides, so concurrent matchers working from stale candidate lists never oversell
(PostgreSQL re-checks the condition after the row lock; SQLite writers are serialised).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    bindparam,
    func,
    literal,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from switchboard_shared.db import cached_constant

from .matching import Candidate, Need, no_match_reason, rank
from .models import Order, Supplier

log = logging.getLogger("switchboard.orders.allocation")


@dataclass(frozen=True)
class Allocation:
    """The supplier that now holds the order's quantity, or why none could."""

    supplier_id: str | None
    reason: str = ""


def serves_sql(dialect: str, category: ColumnElement[str] | str) -> ColumnElement[bool]:
    """SQL condition: the supplier's JSON `categories` list contains `category`."""
    if dialect == "postgresql":
        wanted = func.jsonb_build_array(category)
        return type_coerce(Supplier.categories, JSONB).contains(wanted)
    values = func.json_each(Supplier.categories).table_valued("value")
    return select(literal(1)).select_from(values).where(values.c.value == category).exists()


def serves(session: Session, category: str) -> ColumnElement[bool]:
    return serves_sql(session.get_bind().dialect.name, category)


def free_capacity() -> ColumnElement[int]:
    return Supplier.capacity - Supplier.reserved


def need_of(order: Order) -> Need:
    return Need(category=order.category, region=order.region, quantity=order.quantity)


# Matching runs once per paid order: its two statements are built and keyed once.
_CANDIDATES = {
    dialect: cached_constant(
        select(
            Supplier.id,
            Supplier.categories,
            Supplier.region,
            Supplier.capacity,
            Supplier.reserved,
            Supplier.rating,
        ).where(
            serves_sql(dialect, bindparam("category", type_=String)),
            free_capacity() >= bindparam("q", type_=Integer),
        )
    )
    for dialect in ("postgresql", "sqlite")
}
_RESERVE = cached_constant(
    update(Supplier)
    .where(Supplier.id == bindparam("supplier"), free_capacity() >= bindparam("q"))
    .values(reserved=Supplier.reserved + bindparam("q"))
)


def load_candidates(session: Session, need: Need) -> list[Candidate]:
    """Suppliers of the category with room for the quantity, read as plain values (never the
    identity map, which may hold counts from before this transaction's own reservations)."""
    connection = session.connection()
    rows = connection.execute(
        _CANDIDATES[connection.dialect.name], {"category": need.category, "q": need.quantity}
    ).all()
    return [
        Candidate(row.id, tuple(row.categories), row.region, row.capacity, row.reserved, row.rating)
        for row in rows
    ]


def reserve(session: Session, supplier_id: str, quantity: int) -> bool:
    """Take `quantity` of the supplier's free capacity if it is still there."""
    result = session.connection().execute(_RESERVE, {"supplier": supplier_id, "q": quantity})
    return result.rowcount == 1


def release(session: Session, supplier_id: str, quantity: int) -> bool:
    """Give back a reservation; never drives `reserved` below zero."""
    result = session.execute(
        update(Supplier)
        .where(Supplier.id == supplier_id, Supplier.reserved >= quantity)
        .values(reserved=Supplier.reserved - quantity)
        .execution_options(synchronize_session=False)
    )
    released = result.rowcount == 1  # type: ignore[attr-defined]
    if not released:
        log.error("could not release %s of supplier %s: reservation missing", quantity, supplier_id)
    return released


def allocate(session: Session, need: Need) -> Allocation:
    """Try the ranked candidates best first; the first successful reservation wins.

    Reads and reserves on the session's connection, so the order's pending changes are not
    flushed first: they go in one UPDATE at commit.
    """
    for candidate in rank(need, load_candidates(session, need)):
        if reserve(session, candidate.supplier_id, need.quantity):
            return Allocation(candidate.supplier_id)
        log.info("supplier %s filled up meanwhile; trying the next", candidate.supplier_id)
    serving, largest_free = session.execute(
        select(func.count(), func.max(free_capacity())).where(serves(session, need.category))
    ).one()
    return Allocation(None, no_match_reason(need, serving, largest_free))
