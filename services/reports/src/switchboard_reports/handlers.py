"""Reports' handlers: keep the read model, answer queries over it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from switchboard_shared.contracts import Event
from switchboard_shared.contracts.reports import QueryFacts
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.uow import UnitOfWork

from .models import DailyFact
from .projections import PROJECTED, increments

registry = HandlerRegistry()


@registry.on(*PROJECTED)
def project(event: Event, uow: UnitOfWork) -> None:
    """Add the event to today's facts; the inbox makes a redelivery add nothing."""
    day = (uow.context.occurred_at or datetime.now(UTC)).date()
    for metric, key, amount in increments(event):
        fact = uow.session.get(DailyFact, (day, metric, key), with_for_update=True)
        if fact is None:
            fact = DailyFact(day=day, metric=metric, key=key, value=0)
            uow.session.add(fact)
        fact.value += amount


@registry.command(QueryFacts)
def query_facts(command: QueryFacts, uow: UnitOfWork) -> dict[str, Any]:
    rows = uow.session.scalars(
        select(DailyFact)
        .where(DailyFact.day >= command.period_from, DailyFact.day <= command.period_to)
        .order_by(DailyFact.day, DailyFact.metric, DailyFact.key)
    )
    return {"facts": [_row(fact) for fact in rows]}


def _row(fact: DailyFact) -> dict[str, Any]:
    day: date = fact.day
    return {"day": day.isoformat(), "metric": fact.metric, "key": fact.key, "value": fact.value}
