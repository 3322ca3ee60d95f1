"""Bulk campaigns in the database: opening one, its progress, finishing it, its result."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from switchboard_shared.contracts.email import EmailBulkCompleted, SendBulkEmail
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from .config import EmailSettings
from .models import BulkCampaign, BulkRecipient

FAILED = ("failed", "invalid", "suppressed")
UNFINISHED = (None, "deferred")


def open_campaign(
    command: SendBulkEmail, uow: UnitOfWork, campaign_id: str, settings: EmailSettings
) -> int:
    """Store the campaign and its recipients, dealt round-robin into lanes; returns the lanes
    to start (0 when it was stored already: a redelivered command starts nothing twice)."""
    session = uow.session
    if session.get(BulkCampaign, campaign_id) is not None:
        return 0
    lanes = max(1, min(settings.bulk_lanes, len(command.recipients)))
    session.add(
        BulkCampaign(
            id=campaign_id,
            template=command.template,
            subject=command.subject,
            text=command.text,
            html=command.html,
            common_context=command.common_context,
            total=len(command.recipients),
            done=0,
            lanes=lanes,
            correlation_id=uow.context.correlation_id,
        )
    )
    session.flush()
    rows = [
        {
            "campaign_id": campaign_id,
            "seq": seq,
            "lane": seq % lanes,
            "to": r.to,
            "context": r.context,
            "attempts": 0,
        }
        for seq, r in enumerate(command.recipients)
    ]
    session.execute(insert(BulkRecipient), rows)
    uow.commit()
    return lanes


def correlation_of(session: Session, campaign_id: str) -> str | None:
    campaign = session.get(BulkCampaign, campaign_id)
    return campaign.correlation_id if campaign else None


def unfinished(session: Session, campaign_id: str, lane: int | None = None) -> int:
    query = select(func.count()).where(
        BulkRecipient.campaign_id == campaign_id,
        BulkRecipient.outcome.is_(None) | (BulkRecipient.outcome == "deferred"),
    )
    if lane is not None:
        query = query.where(BulkRecipient.lane == lane)
    return int(session.scalar(query) or 0)


def finish(uow: UnitOfWork, campaign_id: str) -> bool:
    """Mark the campaign finished once every lane is; True for the caller that finished it."""
    campaign = uow.session.get(BulkCampaign, campaign_id, with_for_update=True)
    if campaign is None or campaign.finished_at is not None:
        return campaign is not None
    if unfinished(uow.session, campaign_id):
        return False
    campaign.finished_at, campaign.done = utcnow(), campaign.total
    counts = outcome_counts(uow.session, campaign_id)
    uow.publish(
        EmailBulkCompleted(
            campaign_id=campaign_id,
            total=campaign.total,
            sent=counts.get("sent", 0),
            bounced=counts.get("bounced", 0),
            failed=sum(counts.get(name, 0) for name in FAILED),
        )
    )
    uow.commit()
    return True


def outcome_counts(session: Session, campaign_id: str) -> dict[str, int]:
    rows = session.execute(
        select(BulkRecipient.outcome, func.count())
        .where(BulkRecipient.campaign_id == campaign_id)
        .group_by(BulkRecipient.outcome)
    )
    return {str(outcome): int(count) for outcome, count in rows}


def campaign_result(session: Session, campaign_id: str) -> dict[str, Any]:
    """The task's result: every recipient's outcome, in the order they were given."""
    rows = session.execute(
        select(BulkRecipient.to, BulkRecipient.outcome, BulkRecipient.detail)
        .where(BulkRecipient.campaign_id == campaign_id)
        .order_by(BulkRecipient.seq)
    )
    recipients = [
        {"to": to, "outcome": outcome, **({"detail": detail} if detail else {})}
        for to, outcome, detail in rows
    ]
    counts = Counter(r["outcome"] for r in recipients)
    return {
        "campaign_id": campaign_id,
        "total": len(recipients),
        "counts": dict(counts),
        "recipients": recipients,
    }
