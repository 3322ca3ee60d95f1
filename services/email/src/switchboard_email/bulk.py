"""Sending a bulk campaign: each lane sends one slice per message, then re-queues itself.

A slice reuses one provider connection and commits its recipients' outcomes; the lane's task
then goes to the back of `email.bulk`, so urgent mail overtakes a campaign after at most one
slice, and a campaign's lanes run in parallel on as many worker processes. A 4xx for one
recipient defers it to a later pass; a dead connection stops the slice (progress kept) and
the kit retries with backoff. The lane that finds the whole campaign done finishes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from switchboard_shared.contracts.email import EmailBounced, EmailFailed, EmailSent
from switchboard_shared.failures import ValidationFailure
from switchboard_shared.progress import report
from switchboard_shared.ratelimit import RateLimited
from switchboard_shared.uow import UnitOfWork

from .adapters.base import Deferred, MailSession, PermanentRejection
from .campaigns import finish, unfinished
from .composing import checked_address, compose
from .config import EmailSettings
from .delivery import Post
from .models import BulkCampaign, BulkRecipient
from .rendering import CompiledMail
from .suppression import normalised, suppress, suppressed


@dataclass(frozen=True)
class Slice:
    lane_done: bool  # nothing left in this lane
    finished: bool  # this lane finished the whole campaign
    wait: float = 0.0  # seconds before the lane's next slice


@dataclass
class Batch:
    """What every recipient of one slice shares."""

    mail: CompiledMail
    common: dict[str, Any]
    refused: dict[str, str]  # suppressed addresses among the slice's, with why
    max_attempts: int
    bounced: dict[str, str] = field(default_factory=dict)  # to suppress when committing


def send_slice(
    campaign_id: str, uow: UnitOfWork, post: Post, settings: EmailSettings, lane: int = 0
) -> Slice:
    campaign = uow.session.get(BulkCampaign, campaign_id)
    if campaign is None:
        raise ValidationFailure(f"no bulk campaign {campaign_id!r}")
    rows = _pending(uow, campaign_id, lane, settings.bulk_slice_size)
    if not rows:
        return _end_of_lane(uow, campaign, lane, settings)
    try:
        mail = _compiled(post, campaign)
    except ValidationFailure as exc:  # retrying cannot help: fail the recipients, not the task
        return _fail_slice(uow, campaign, rows, str(exc))
    refused = suppressed(uow.session, [row.to for row in rows])
    batch = Batch(
        mail,
        dict(campaign.common_context),
        refused,
        settings.bulk_deferred_passes,
    )
    # End the read transaction: no database lock is held while talking to the provider
    # (on SQLite it would serialise the lanes); the outcomes are written at the end.
    uow.session.commit()
    wait = 0.0
    with post.mailer.session() as connection:
        for row in rows:
            try:
                _send_one(uow, post, connection, batch, row)
            except RateLimited as exc:
                wait = exc.retry_after or 1.0
                break
            except Exception:
                # What was sent stays sent; the kit retries the rest.
                _commit_progress(uow, campaign, batch.bounced)
                raise
    _commit_progress(uow, campaign, batch.bounced)
    return Slice(lane_done=False, finished=False, wait=wait)


def _pending(uow: UnitOfWork, campaign_id: str, lane: int, size: int) -> list[BulkRecipient]:
    return list(
        uow.session.scalars(
            select(BulkRecipient)
            .where(
                BulkRecipient.campaign_id == campaign_id,
                BulkRecipient.lane == lane,
                BulkRecipient.outcome.is_(None),
            )
            .order_by(BulkRecipient.seq)
            .limit(size)
        )
    )


def _compiled(post: Post, campaign: BulkCampaign) -> CompiledMail:
    if campaign.template:
        return post.templates.named(campaign.template)
    return post.templates.inline(campaign.subject, campaign.text, campaign.html)


def _send_one(
    uow: UnitOfWork, post: Post, connection: MailSession, batch: Batch, row: BulkRecipient
) -> None:
    key, message_id, refused = normalised(row.to), f"{row.campaign_id}:{row.seq}", batch.refused
    if key in refused:
        return _fail(uow, row, "suppressed", f"suppressed: {refused[key]}")
    try:
        checked_address(row.to)
    except ValidationFailure as exc:
        return _fail(uow, row, "invalid", str(exc))
    try:
        rendered = batch.mail.render({**batch.common, **row.context})
        message = compose(post.sender, row.to, rendered)
    except (ValidationFailure, ValueError) as exc:
        return _fail(uow, row, "failed", str(exc))
    post.limiter.acquire(reserve=False)  # a slice re-queues whole: a slot would leak
    try:
        connection.send(message)
    except PermanentRejection as exc:
        refused[key] = batch.bounced[row.to] = str(exc)
        row.outcome, row.detail = "bounced", str(exc)
        uow.publish(EmailBounced(message_id=message_id, to=row.to, reason=str(exc)))
        return None
    except Deferred as exc:
        row.attempts += 1
        if row.attempts > batch.max_attempts:
            return _fail(uow, row, "failed", f"deferred {row.attempts} times: {exc}")
        row.outcome, row.detail = "deferred", str(exc)
        return None
    row.outcome = "sent"
    uow.publish(
        EmailSent(
            message_id=message_id, to=row.to, subject=rendered.subject, campaign_id=row.campaign_id
        )
    )
    return None


def _fail_slice(
    uow: UnitOfWork, campaign: BulkCampaign, rows: list[BulkRecipient], reason: str
) -> Slice:
    """Every recipient of the slice fails with `reason`; the lane goes on to its next slice."""
    for row in rows:
        _fail(uow, row, "failed", reason)
    _commit_progress(uow, campaign)
    return Slice(lane_done=False, finished=False)


def _fail(uow: UnitOfWork, row: BulkRecipient, outcome: str, reason: str) -> None:
    row.outcome, row.detail = outcome, reason
    uow.publish(EmailFailed(message_id=f"{row.campaign_id}:{row.seq}", to=row.to, reason=reason))


def _commit_progress(
    uow: UnitOfWork, campaign: BulkCampaign, bounced: dict[str, str] | None = None
) -> None:
    for address, reason in (bounced or {}).items():
        suppress(uow.session, address, reason)
    uow.session.flush()
    done = campaign.total - unfinished(uow.session, campaign.id)
    uow.commit()
    report(100 * done / campaign.total, f"{done}/{campaign.total} recipients")


def _end_of_lane(
    uow: UnitOfWork, campaign: BulkCampaign, lane: int, settings: EmailSettings
) -> Slice:
    """Deferred recipients of this lane get another pass later; else see if all lanes are done."""
    retry = uow.session.execute(
        update(BulkRecipient)
        .where(
            BulkRecipient.campaign_id == campaign.id,
            BulkRecipient.lane == lane,
            BulkRecipient.outcome == "deferred",
        )
        .values(outcome=None)
    )
    if retry.rowcount:  # type: ignore[attr-defined]
        uow.commit()
        return Slice(lane_done=False, finished=False, wait=settings.bulk_deferred_wait_seconds)
    uow.rollback()
    return Slice(lane_done=True, finished=finish(uow, campaign.id))
