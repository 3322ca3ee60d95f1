"""Email's handlers: commands to send, and notifications from other services' events."""

from __future__ import annotations

import base64
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from switchboard_shared.contracts.email import EmailSent, SendEmail
from switchboard_shared.contracts.orders import OrderMatched
from switchboard_shared.contracts.payments import PaymentFailed
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.uow import UnitOfWork

from .adapters.smtp import Mailer
from .models import SentEmail

registry = HandlerRegistry()


@registry.command(SendEmail)
def send_email(command: SendEmail, uow: UnitOfWork, mailer: Mailer, sender: str) -> dict[str, Any]:
    message = _compose(sender, str(command.to), command.subject, command.text, command.html)
    for attachment in command.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            base64.b64decode(attachment.content_base64, validate=True),
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return _deliver(uow, mailer, message, reason="direct")


@registry.on(OrderMatched)
def confirm_order(event: OrderMatched, uow: UnitOfWork, mailer: Mailer, sender: str) -> None:
    amount = f"{event.amount / 100:.2f} {event.currency.upper()}"
    text = f"Your order {event.order_id} ({amount}) is confirmed and assigned to a supplier."
    _deliver(
        uow,
        mailer,
        _compose(sender, event.customer_email, f"Order {event.order_id} confirmed", text),
        "order-matched",
    )


@registry.on(PaymentFailed)
def tell_payment_failed(event: PaymentFailed, uow: UnitOfWork, mailer: Mailer, sender: str) -> None:
    if not event.customer_email:
        return
    text = f"We could not charge your card for order {event.order_id}: {event.reason}."
    _deliver(
        uow,
        mailer,
        _compose(sender, event.customer_email, f"Payment for order {event.order_id} failed", text),
        "payment-failed",
    )


def _compose(
    sender: str, to: str, subject: str, text: str | None, html: str | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = make_msgid(domain="switchboard.local")
    message.set_content(text or "")
    if html:
        message.add_alternative(html, subtype="html")
    return message


def _deliver(uow: UnitOfWork, mailer: Mailer, message: EmailMessage, reason: str) -> dict[str, Any]:
    # Sent before commit: if the commit fails the retry may send again (at-least-once mail),
    # but a recorded-but-unsent mail can never happen.
    mailer.send(message)
    email_id = str(uuid.uuid4())
    uow.session.add(
        SentEmail(
            id=email_id,
            to=message["To"],
            subject=message["Subject"],
            reason=reason,
            correlation_id=uow.context.correlation_id,
        )
    )
    uow.publish(EmailSent(message_id=email_id, to=message["To"], subject=message["Subject"]))
    return {"message_id": email_id, "to": message["To"]}
