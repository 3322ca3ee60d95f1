"""SMTP delivery, with SMTP replies turned into the kit's failure classes."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Protocol

from switchboard_shared.blips import retry_blips
from switchboard_shared.failures import ClassifiedError, FailureClass

from ..config import EmailSettings


class PermanentRejection(ClassifiedError):
    """5xx: the address or message is refused for good (a bounce)."""

    failure_class = FailureClass.PROVIDER_4XX


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    @retry_blips()
    def send(self, message: EmailMessage) -> None:
        s = self.settings
        client_type = smtplib.SMTP_SSL if s.smtp_ssl else smtplib.SMTP
        try:
            with client_type(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout) as client:
                if s.smtp_starttls:
                    client.starttls()
                if s.smtp_username:
                    client.login(s.smtp_username, s.smtp_password)
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentRejection(f"recipient refused: {exc.recipients}") from exc
            raise ClassifiedError(
                f"recipient deferred: {exc.recipients}", failure_class=FailureClass.PROVIDER_5XX
            ) from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise PermanentRejection(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise ClassifiedError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", failure_class=FailureClass.PROVIDER_5XX
            ) from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise ClassifiedError(
                f"SMTP unreachable: {exc}", failure_class=FailureClass.NETWORK
            ) from exc
