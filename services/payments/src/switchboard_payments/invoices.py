"""Invoices: one per paid order, numbered INV-<year>-<000001> without gaps or duplicates.

The number comes from a counter row per year, bumped by `UPDATE … SET last = last + 1` in the
issuing transaction: the row lock (PostgreSQL) or the write lock (SQLite) makes concurrent
issuers take turns, and a rolled-back issue gives its number back.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.exc import IntegrityError
from switchboard_shared.contracts.payments import InvoiceIssued
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from .models import Invoice, InvoiceCounter, Payment


def invoice_number(year: int, sequence: int) -> str:
    return f"INV-{year}-{sequence:06d}"


# A Core statement, run on the session's connection: the ORM's bulk UPDATE machinery (session
# synchronisation) cost more than the UPDATE itself, once per paid order.
_COUNTERS = cast(Table, InvoiceCounter.__table__)
_BUMP = (
    update(_COUNTERS)
    .where(_COUNTERS.c.year == bindparam("y"))
    .values(last=_COUNTERS.c.last + 1)
    .returning(_COUNTERS.c.last)
)


def next_sequence(uow: UnitOfWork, year: int) -> int:
    sequence = uow.session.connection().scalar(_BUMP, {"y": year})
    if sequence is not None:
        return int(sequence)
    try:  # the year's first invoice; a concurrent first one makes us take the UPDATE path
        with uow.session.begin_nested():
            uow.session.add(InvoiceCounter(year=year, last=1))
        return 1
    except IntegrityError:
        return int(uow.session.connection().execute(_BUMP, {"y": year}).scalar_one())


def issue_invoice(payment: Payment, uow: UnitOfWork) -> Invoice:
    """Issue the order's invoice and publish `invoice-issued`.

    Called once per payment, as it moves to `succeeded` under its row lock (`mark_succeeded`),
    so no read for an existing invoice first; `invoices.order_id` is unique all the same, and
    a second one would fail the transaction rather than number a duplicate.
    """
    issued_at = utcnow()
    sequence = next_sequence(uow, issued_at.year)
    invoice = Invoice(
        number=invoice_number(issued_at.year, sequence),
        year=issued_at.year,
        sequence=sequence,
        order_id=payment.order_id,
        payment_id=payment.id,
        amount=payment.amount,
        currency=payment.currency,
        issued_at=issued_at,
    )
    uow.session.add(invoice)
    uow.publish(
        InvoiceIssued(
            invoice_number=invoice.number,
            order_id=invoice.order_id,
            amount=invoice.amount,
            currency=invoice.currency,
        ),
        subject=payment.order_id,
    )
    return invoice
