"""Email's published language: the send commands and what became of each message."""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationInfo, field_validator

from .base import Command, Event
from .sensitivity import personal

PRODUCER = "email"
MAX_ATTACHMENT_BYTES = 512 * 1024
MAX_ATTACHMENT_BASE64 = (MAX_ATTACHMENT_BYTES + 2) // 3 * 4
MAX_BULK_RECIPIENTS = 50_000
TEMPLATE_NAME = r"^[a-z0-9][a-z0-9-]{0,63}$"
Priority = Literal["urgent", "normal", "bulk"]
SEND_EMAIL = "email.send"
SEND_BULK_EMAIL = "email.send_bulk"
# RFC 6838 `type/subtype`, restricted-name tokens and nothing else: the value is written into
# the attachment's Content-Type header as given, so it must not carry a CR/LF or parameters.
CONTENT_TYPE = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}$"
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]+$"


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    filename: str = Field(min_length=1, max_length=255, pattern=NO_CONTROL_CHARACTERS)
    content_type: str = Field(
        default="application/octet-stream", max_length=127, pattern=CONTENT_TYPE
    )
    content_base64: str

    @field_validator("content_base64")
    @classmethod
    def _decodes_within_cap(cls, value: str) -> str:
        if len(value) > MAX_ATTACHMENT_BASE64:
            raise ValueError(f"attachment too large: more than {MAX_ATTACHMENT_BYTES} bytes")
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("attachment content is not valid base64") from None
        return value


def _subject_given(subject: str, info: ValidationInfo) -> str:
    if not subject and "template" in info.data and not info.data["template"]:
        raise ValueError("'subject' is required unless a template gives it")
    return subject


def _body_given(text: str | None, info: ValidationInfo) -> str | None:
    """The body is a template, or text and/or HTML: exactly one of the two ways."""
    template, html = info.data.get("template"), info.data.get("html")
    if template and (text or html):
        raise ValueError("give either 'template' or 'text'/'html', not both")
    if not (template or text or html):
        raise ValueError("one of 'text', 'html' or 'template' is required")
    return text


class SendEmail(Command):
    """One message: subject with text and/or HTML, or a named template rendered with `context`."""

    task_name: ClassVar[str] = SEND_EMAIL
    queue: ClassVar[str] = "email.normal"

    to: EmailStr = personal()
    template: str | None = Field(default=None, pattern=TEMPLATE_NAME)
    context: dict[str, Any] = Field(default_factory=dict)
    subject: str = Field(default="", max_length=998, validate_default=True)
    html: str | None = None
    text: str | None = Field(default=None, validate_default=True)
    attachments: list[Attachment] = Field(default_factory=list, max_length=10)
    priority: Priority = "normal"

    _body = field_validator("text")(_body_given)

    _subject = field_validator("subject")(_subject_given)

    def destination(self) -> str:
        return f"email.{self.priority}"


class BulkRecipient(BaseModel):
    """Checked when its turn comes: a bad address fails only itself, not the campaign."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: str = personal(min_length=1, max_length=320)
    context: dict[str, Any] = Field(default_factory=dict)


class SendBulkEmail(Command):
    """One template (or subject + text) to many recipients, each with a personal context."""

    task_name: ClassVar[str] = SEND_BULK_EMAIL
    queue: ClassVar[str] = "email.bulk"

    template: str | None = Field(default=None, pattern=TEMPLATE_NAME)
    subject: str = Field(default="", max_length=998, validate_default=True)
    html: str | None = None
    text: str | None = Field(default=None, validate_default=True)
    common_context: dict[str, Any] = Field(default_factory=dict)
    recipients: list[BulkRecipient] = Field(min_length=1, max_length=MAX_BULK_RECIPIENTS)

    _body = field_validator("text")(_body_given)

    _subject = field_validator("subject")(_subject_given)


class EmailSent(Event):
    type: ClassVar[str] = "email-sent"
    producer: ClassVar[str] = PRODUCER

    message_id: str
    to: str = personal()
    subject: str
    campaign_id: str | None = None


class EmailBounced(Event):
    """A permanent rejection (SMTP 5xx, SES MessageRejected): the address is now suppressed."""

    type: ClassVar[str] = "email-bounced"
    producer: ClassVar[str] = PRODUCER

    message_id: str
    to: str = personal()
    reason: str


class EmailFailed(Event):
    """Not sent and not a bounce: a suppressed or invalid address, a template error."""

    type: ClassVar[str] = "email-failed"
    producer: ClassVar[str] = PRODUCER

    message_id: str
    to: str = personal()
    reason: str


class EmailBulkCompleted(Event):
    type: ClassVar[str] = "email-bulk-completed"
    producer: ClassVar[str] = PRODUCER

    campaign_id: str
    total: int
    sent: int
    bounced: int
    failed: int
