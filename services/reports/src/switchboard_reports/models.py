"""The analytics read model: facts per day, built only from events."""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from switchboard_shared.db import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DailyFact(Base):
    """One number per (day, metric, key): e.g. (2026-11-23, revenue, usd) = 259900."""

    __tablename__ = "daily_facts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    value: Mapped[int] = mapped_column(BigInteger, default=0)
