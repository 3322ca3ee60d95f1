"""The suppression list: addresses that bounced for good are never sent to again."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from .models import Suppression

# Asked once per mail: one prebuilt Core statement, not an ORM query built per call.
_TABLE = cast(Table, Suppression.__table__)
_SUPPRESSED = select(_TABLE.c.address, _TABLE.c.reason).where(
    _TABLE.c.address.in_(bindparam("wanted", expanding=True))
)


def normalised(address: str) -> str:
    return address.strip().lower()


def suppressed(session: Session, addresses: Iterable[str]) -> dict[str, str]:
    """The suppressed ones among `addresses` (normalised), with why."""
    wanted = {normalised(a) for a in addresses}
    if not wanted:
        return {}
    rows = session.connection().execute(_SUPPRESSED, {"wanted": sorted(wanted)})
    return {address: reason for address, reason in rows}


def suppress(session: Session, address: str, reason: str) -> None:
    key = normalised(address)
    if session.get(Suppression, key) is None:
        session.add(Suppression(address=key, reason=reason[:2000]))
        session.flush()
