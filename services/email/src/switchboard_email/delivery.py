"""Sending one message: the suppression list, the shared rate limit, the provider, the events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from switchboard_shared.contracts.email import Attachment, EmailBounced, EmailFailed, EmailSent
from switchboard_shared.ratelimit import Limiter, Unlimited
from switchboard_shared.uow import UnitOfWork

from .adapters.base import Mailer, PermanentRejection
from .composing import compose
from .models import SentEmail
from .rendering import Rendered, Templates
from .suppression import suppress, suppressed


@dataclass
class Post:
    """What every send needs: the provider, the shared rate limit, the templates, the From."""

    mailer: Mailer
    sender: str
    limiter: Limiter = field(default_factory=Unlimited)
    templates: Templates = field(default_factory=Templates)

    def deliver(
        self,
        uow: UnitOfWork,
        to: str,
        mail: Rendered,
        kind: str,
        attachments: Sequence[Attachment] = (),
    ) -> dict[str, Any]:
        """Send now (or raise `RateLimited` before anything is sent); record what happened.

        Sent before commit: if the commit fails the retry may send again (at-least-once
        mail), but a recorded-but-unsent mail can never happen.
        """
        email_id = str(uuid.uuid4())
        outcome = {"message_id": email_id, "to": to}
        refused = suppressed(uow.session, [to])
        if refused:
            reason = f"suppressed: {next(iter(refused.values()))}"
            uow.publish(EmailFailed(message_id=email_id, to=to, reason=reason))
            return {**outcome, "status": "suppressed", "reason": reason}
        message = compose(self.sender, to, mail, attachments)
        self.limiter.acquire()
        try:
            self.mailer.send(message)
        except PermanentRejection as exc:
            suppress(uow.session, to, str(exc))
            uow.publish(EmailBounced(message_id=email_id, to=to, reason=str(exc)))
            return {**outcome, "status": "bounced", "reason": str(exc)}
        uow.session.add(
            SentEmail(
                id=email_id,
                to=to,
                subject=mail.subject,
                reason=kind,
                correlation_id=uow.context.correlation_id,
            )
        )
        uow.publish(EmailSent(message_id=email_id, to=to, subject=mail.subject))
        return {**outcome, "status": "sent"}
