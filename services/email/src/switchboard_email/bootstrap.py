"""Wires email's adapters into its handlers; tests pass fakes instead."""

from __future__ import annotations

from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.ratelimit import Limiter, Unlimited

from .adapters.base import Mailer
from .adapters.smtp import SmtpMailer
from .config import EmailSettings
from .delivery import Post
from .rendering import Templates


def make_mailer(settings: EmailSettings) -> Mailer:
    if settings.provider == "ses":
        from .adapters.ses import SesMailer  # boto3 takes seconds to import: only when used

        return SesMailer(settings)
    return SmtpMailer(settings)


def bootstrap(
    registry: HandlerRegistry,
    settings: EmailSettings,
    mailer: Mailer | None = None,
    limiter: Limiter | None = None,
) -> Post:
    """No `limiter`: unlimited (the worker's app passes the shared Redis bucket)."""
    post = Post(
        mailer=mailer or make_mailer(settings),
        sender=settings.sender,
        limiter=limiter or Unlimited(),
        templates=Templates(),
    )
    registry.provide(post=post, settings=settings)
    return post
