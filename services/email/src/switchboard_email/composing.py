"""Rendered mail plus attachments become one MIME message.

Built on the stdlib's compat32 policy: several times cheaper per message than `EmailMessage`'s
header registry, which dominates a bulk send's CPU otherwise. Each part's content is set by the
email package's own content manager, which picks its transfer encoding: 7bit only for short
ASCII lines, quoted-printable or base64 for a long line (a URL, a generated HTML line) or
non-ASCII text, base64 for attachments. So any content can cross SMTP (which refuses a line
over 998 characters) and no 8bit body reaches a server that never offered 8BITMIME.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from email.contentmanager import raw_data_manager
from email.header import Header
from email.message import Message, MIMEPart
from email.mime.multipart import MIMEMultipart
from email.policy import compat32
from email.utils import formatdate, make_msgid

from email_validator import EmailNotValidError, validate_email
from switchboard_shared.contracts.email import Attachment
from switchboard_shared.failures import ValidationFailure

from .rendering import Rendered

# compat32's cheap headers; "7bit" makes the content manager encode non-ASCII text too.
POLICY = compat32.clone(cte_type="7bit")


def checked_address(address: str) -> str:
    """The address as given, or `ValidationFailure` saying what is wrong with it."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailure(f"invalid address {address!r}: {exc}") from exc
    return address


def compose(
    sender: str, to: str, mail: Rendered, attachments: Sequence[Attachment] = ()
) -> Message:
    for value in (sender, to, mail.subject):
        if "\n" in value or "\r" in value:
            raise ValidationFailure(f"header value may not contain a line break: {value!r}")
    message = _with_attachments(_body(mail), attachments)
    if "MIME-Version" not in message:
        message["MIME-Version"] = "1.0"
    message["From"] = sender
    message["To"] = to
    subject = mail.subject
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="switchboard.local")
    return message


def _part(content: str | bytes, *args: str, **params: str) -> MIMEPart:
    """One leaf part; the content manager picks its transfer encoding (`cte` never forced)."""
    part = MIMEPart(policy=POLICY)
    part.set_content(content, *args, content_manager=raw_data_manager, **params)
    return part


def _text(content: str, subtype: str) -> MIMEPart:
    return _part(content, subtype, charset="us-ascii" if content.isascii() else "utf-8")


def _body(mail: Rendered) -> Message:
    if mail.text is not None and mail.html:
        alternative = MIMEMultipart("alternative", policy=POLICY)
        alternative.attach(_text(mail.text, "plain"))
        alternative.attach(_text(mail.html, "html"))
        return alternative
    if mail.text is None and mail.html:
        return _text(mail.html, "html")
    return _text(mail.text or "", "plain")


def _attachment(attachment: Attachment) -> MIMEPart:
    maintype, _, subtype = attachment.content_type.partition("/")
    content = base64.b64decode(attachment.content_base64, validate=True)
    return _part(content, maintype, subtype or "octet-stream", filename=attachment.filename)


def _with_attachments(body: Message, attachments: Sequence[Attachment]) -> Message:
    if not attachments:
        return body
    mixed = MIMEMultipart("mixed", policy=POLICY)
    mixed.attach(body)
    for attachment in attachments:
        mixed.attach(_attachment(attachment))
    return mixed
