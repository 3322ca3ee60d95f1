"""The suppression list: addresses that bounced for good are never sent to again."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Suppression


def normalised(address: str) -> str:
    return address.strip().lower()


def suppressed(session: Session, addresses: Iterable[str]) -> dict[str, str]:
    """The suppressed ones among `addresses` (normalised), with why."""
    wanted = {normalised(a) for a in addresses}
    if not wanted:
        return {}
    rows = session.execute(
        select(Suppression.address, Suppression.reason).where(Suppression.address.in_(wanted))
    )
    return {address: reason for address, reason in rows}


def suppress(session: Session, address: str, reason: str) -> None:
    key = normalised(address)
    if session.get(Suppression, key) is None:
        session.add(Suppression(address=key, reason=reason[:2000]))
        session.flush()
