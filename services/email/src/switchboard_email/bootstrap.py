"""Wires email's adapters into its handlers; tests pass fakes instead."""

from switchboard_shared.messagebus import HandlerRegistry

from .adapters.smtp import Mailer, SmtpMailer
from .config import EmailSettings


def bootstrap(
    registry: HandlerRegistry, settings: EmailSettings, mailer: Mailer | None = None
) -> None:
    registry.provide(mailer=mailer or SmtpMailer(settings), sender=settings.sender)
