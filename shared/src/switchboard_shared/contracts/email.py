"""Email's published language."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from .base import Command, Event

PRODUCER = "email"
MAX_ATTACHMENT_BASE64 = 700_000


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=100)
    content_base64: str = Field(max_length=MAX_ATTACHMENT_BASE64)


class SendEmail(Command):
    task_name: ClassVar[str] = "email.send"
    queue: ClassVar[str] = "email.normal"

    to: EmailStr
    subject: str = Field(default="", max_length=998)
    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=10)
    priority: Literal["urgent", "normal", "bulk"] = "normal"

    @model_validator(mode="after")
    def _has_body(self) -> SendEmail:
        if not (self.text or self.html):
            raise ValueError("one of 'text' or 'html' is required")
        if not self.subject:
            raise ValueError("'subject' is required")
        return self


class EmailSent(Event):
    type: ClassVar[str] = "email-sent"
    producer: ClassVar[str] = PRODUCER

    message_id: str
    to: str
    subject: str


class EmailBounced(Event):
    type: ClassVar[str] = "email-bounced"
    producer: ClassVar[str] = PRODUCER

    message_id: str
    to: str
    reason: str


class EmailFailed(Event):
    type: ClassVar[str] = "email-failed"
    producer: ClassVar[str] = PRODUCER

    message_id: str
    to: str
    reason: str
