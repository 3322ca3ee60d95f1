"""Bulk campaigns: the recipients are stored once, then sent one slice at a time.

Each slice reuses one provider connection and commits its recipients' outcomes; the task then
re-queues itself on `email.bulk` for the next slice, so urgent mail overtakes a campaign after
at most one slice. A 4xx for one recipient defers it to a later pass; a dead connection stops
the slice (progress kept) and the kit retries with backoff.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from switchboard_shared.contracts.email import (
    EmailBounced,
    EmailBulkCompleted,
    EmailFailed,
    EmailSent,
    SendBulkEmail,
)
from switchboard_shared.failures import ValidationFailure
from switchboard_shared.progress import report
from switchboard_shared.ratelimit import RateLimited
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from .adapters.base import Deferred, MailSession, PermanentRejection
from .composing import checked_address, compose
from .config import EmailSettings
from .delivery import Post
from .models import BulkCampaign, BulkRecipient
from .rendering import CompiledMail
from .suppression import normalised, suppress, suppressed

FAILED = ("failed", "invalid", "suppressed")


@dataclass(frozen=True)
class Slice:
    done: int
    total: int
    finished: bool
    wait: float = 0.0  # seconds before the next slice may run


def open_campaign(command: SendBulkEmail, uow: UnitOfWork, campaign_id: str) -> None:
    """Store the campaign and its recipients (once: a redelivery finds it there)."""
    session = uow.session
    if session.get(BulkCampaign, campaign_id) is not None:
        return
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
            passes=0,
            correlation_id=uow.context.correlation_id,
        )
    )
    session.flush()
    rows = [
        {"campaign_id": campaign_id, "seq": seq, "to": r.to, "context": r.context}
        for seq, r in enumerate(command.recipients)
    ]
    session.execute(insert(BulkRecipient), rows)
    uow.commit()


def send_slice(campaign_id: str, uow: UnitOfWork, post: Post, settings: EmailSettings) -> Slice:
    session = uow.session
    campaign = session.get(BulkCampaign, campaign_id)
    if campaign is None:
        raise ValidationFailure(f"no bulk campaign {campaign_id!r}")
    rows = session.scalars(
        select(BulkRecipient)
        .where(BulkRecipient.campaign_id == campaign_id, BulkRecipient.outcome.is_(None))
        .order_by(BulkRecipient.seq)
        .limit(settings.bulk_slice_size)
    ).all()
    if not rows:
        return _end_of_pass(uow, campaign, settings)
    mail = _compiled(post, campaign)
    refused = suppressed(session, [row.to for row in rows])
    wait = 0.0
    with post.mailer.session() as connection:
        for row in rows:
            try:
                _send_one(uow, post, connection, mail, row, refused)
            except RateLimited as exc:
                wait = exc.retry_after or 1.0
                break
            except Exception:
                _commit_progress(uow, campaign)  # what was sent stays sent; the kit retries
                raise
    return _commit_progress(uow, campaign, wait)


def _compiled(post: Post, campaign: BulkCampaign) -> CompiledMail:
    if campaign.template:
        return post.templates.named(campaign.template)
    return post.templates.inline(campaign.subject, campaign.text, campaign.html)


def _send_one(
    uow: UnitOfWork,
    post: Post,
    connection: MailSession,
    mail: CompiledMail,
    row: BulkRecipient,
    refused: dict[str, str],
) -> None:
    key, message_id = normalised(row.to), f"{row.campaign_id}:{row.seq}"
    if key in refused:
        return _fail(uow, row, "suppressed", f"suppressed: {refused[key]}")
    try:
        checked_address(row.to)
    except ValidationFailure as exc:
        return _fail(uow, row, "invalid", str(exc))
    try:
        rendered = mail.render({**_common(uow, row), **row.context})
        message = compose(post.sender, row.to, rendered)
    except (ValidationFailure, ValueError) as exc:
        return _fail(uow, row, "failed", str(exc))
    post.limiter.acquire()
    try:
        connection.send(message)
    except PermanentRejection as exc:
        suppress(uow.session, row.to, str(exc))
        refused[key] = str(exc)
        row.outcome, row.detail = "bounced", str(exc)
        uow.publish(EmailBounced(message_id=message_id, to=row.to, reason=str(exc)))
        return None
    except Deferred as exc:
        row.outcome, row.detail = "deferred", str(exc)
        return None
    row.outcome = "sent"
    uow.publish(
        EmailSent(
            message_id=message_id, to=row.to, subject=rendered.subject, campaign_id=row.campaign_id
        )
    )
    return None


def _common(uow: UnitOfWork, row: BulkRecipient) -> dict[str, Any]:
    campaign = uow.session.get(BulkCampaign, row.campaign_id)  # identity map: no query
    return dict(campaign.common_context) if campaign else {}


def _fail(uow: UnitOfWork, row: BulkRecipient, outcome: str, reason: str) -> None:
    row.outcome, row.detail = outcome, reason
    uow.publish(EmailFailed(message_id=f"{row.campaign_id}:{row.seq}", to=row.to, reason=reason))


def _commit_progress(uow: UnitOfWork, campaign: BulkCampaign, wait: float = 0.0) -> Slice:
    uow.session.flush()
    campaign.done = _count(uow.session, campaign.id, BulkRecipient.outcome.not_in(["deferred"]))
    uow.commit()
    report(100 * campaign.done / campaign.total, f"{campaign.done}/{campaign.total} recipients")
    return Slice(campaign.done, campaign.total, finished=False, wait=wait)


def _end_of_pass(uow: UnitOfWork, campaign: BulkCampaign, settings: EmailSettings) -> Slice:
    deferred = uow.session.scalars(
        select(BulkRecipient).where(
            BulkRecipient.campaign_id == campaign.id, BulkRecipient.outcome == "deferred"
        )
    ).all()
    if deferred and campaign.passes < settings.bulk_deferred_passes:
        for row in deferred:
            row.outcome = None
        campaign.passes += 1
        slice_ = _commit_progress(uow, campaign, settings.bulk_deferred_wait_seconds)
        return slice_
    for row in deferred:
        _fail(
            uow, row, "failed", f"still deferred after {campaign.passes + 1} passes: {row.detail}"
        )
    if campaign.finished_at is None:
        campaign.finished_at = utcnow()
        counts = outcome_counts(uow.session, campaign.id)
        uow.publish(
            EmailBulkCompleted(
                campaign_id=campaign.id,
                total=campaign.total,
                sent=counts.get("sent", 0),
                bounced=counts.get("bounced", 0),
                failed=sum(counts.get(name, 0) for name in FAILED),
            )
        )
    campaign.done = campaign.total
    uow.commit()
    return Slice(campaign.total, campaign.total, finished=True)


def _count(session: Session, campaign_id: str, condition: Any) -> int:
    query = select(func.count()).where(BulkRecipient.campaign_id == campaign_id, condition)
    return int(session.scalar(query) or 0)


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
