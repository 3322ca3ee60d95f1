"""Rendered mail plus attachments become one MIME message."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid

from email_validator import EmailNotValidError, validate_email
from switchboard_shared.contracts.email import Attachment
from switchboard_shared.failures import ValidationFailure

from .rendering import Rendered


def checked_address(address: str) -> str:
    """The address as given, or `ValidationFailure` saying what is wrong with it."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailure(f"invalid address {address!r}: {exc}") from exc
    return address


def compose(
    sender: str, to: str, mail: Rendered, attachments: Sequence[Attachment] = ()
) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, mail.subject
    message["Message-ID"] = make_msgid(domain="switchboard.local")
    if mail.text is None and mail.html is not None:
        message.set_content(mail.html, subtype="html")
    else:
        message.set_content(mail.text or "")
        if mail.html:
            message.add_alternative(mail.html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            base64.b64decode(attachment.content_base64, validate=True),
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return message
