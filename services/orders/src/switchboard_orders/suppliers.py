"""Supplier commands: register one (idempotent by id) and list them by category."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from switchboard_shared.contracts.orders import CreateSupplier, ListSuppliers, SupplierRegistered
from switchboard_shared.uow import UnitOfWork

from .allocation import serves
from .models import Supplier
from .registry import registry


@registry.command(CreateSupplier)
def create_supplier(command: CreateSupplier, uow: UnitOfWork) -> dict[str, Any]:
    """Register a supplier; the same id again returns the existing one and publishes nothing."""
    existing = uow.session.get(Supplier, command.supplier_id)
    if existing is not None:
        return existing.as_dict()
    categories = list(dict.fromkeys(command.categories))
    supplier = Supplier(
        id=command.supplier_id,
        name=command.name,
        categories=categories,
        region=command.region,
        capacity=command.capacity,
        reserved=0,
        rating=command.rating,
    )
    uow.session.add(supplier)
    uow.session.flush()
    uow.publish(
        SupplierRegistered(
            supplier_id=supplier.id,
            name=supplier.name,
            categories=categories,
            region=supplier.region,
            capacity=supplier.capacity,
        ),
        subject=supplier.id,
    )
    return supplier.as_dict()


@registry.command(ListSuppliers)
def list_suppliers(command: ListSuppliers, uow: UnitOfWork) -> dict[str, Any]:
    """`{"items": [...], "total": n}`: suppliers (of `category`, if given) by id, one page."""
    condition = serves(uow.session, command.category) if command.category else None
    count = select(func.count()).select_from(Supplier)
    page = select(Supplier).order_by(Supplier.id).limit(command.limit).offset(command.offset)
    if condition is not None:
        count, page = count.where(condition), page.where(condition)
    total = uow.session.scalar(count) or 0
    items = [supplier.as_dict() for supplier in uow.session.scalars(page)]
    return {"items": items, "total": total}
