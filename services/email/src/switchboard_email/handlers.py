"""Email's handlers: the send command, and notifications from other services' events."""

from __future__ import annotations

from typing import Any

from switchboard_shared.contracts.email import SendEmail
from switchboard_shared.contracts.orders import OrderMatched, OrderPaymentReminder
from switchboard_shared.contracts.payments import PaymentFailed
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.uow import UnitOfWork

from .composing import checked_address
from .delivery import Post
from .rendering import Rendered

registry = HandlerRegistry()


@registry.command(SendEmail)
def send_email(command: SendEmail, uow: UnitOfWork, post: Post) -> dict[str, Any]:
    if command.template:
        mail = post.templates.named(command.template).render(command.context)
        if command.subject:
            mail = Rendered(command.subject, mail.text, mail.html)
    else:
        mail = Rendered(command.subject, command.text, command.html)
    return post.deliver(uow, str(command.to), mail, "direct", command.attachments)


@registry.on(OrderMatched)
def confirm_order(event: OrderMatched, uow: UnitOfWork, post: Post) -> None:
    context = {"order_id": event.order_id, "amount": money(event.amount, event.currency)}
    mail = post.templates.named("order-confirmation").render(context)
    post.deliver(uow, checked_address(event.customer_email), mail, "order-matched")


@registry.on(PaymentFailed)
def tell_payment_failed(event: PaymentFailed, uow: UnitOfWork, post: Post) -> None:
    if not event.customer_email:
        return
    context = {"order_id": event.order_id, "reason": event.reason}
    mail = post.templates.named("payment-failed").render(context)
    post.deliver(uow, checked_address(event.customer_email), mail, "payment-failed")


@registry.on(OrderPaymentReminder)
def remind_to_pay(event: OrderPaymentReminder, uow: UnitOfWork, post: Post) -> None:
    context = {"order_id": event.order_id, "amount": money(event.amount, event.currency)}
    mail = post.templates.named("payment-reminder").render(context)
    post.deliver(uow, checked_address(event.customer_email), mail, "order-payment-reminder")


def money(amount: int, currency: str) -> str:
    """Minor units as a readable amount: 3750, "usd" → "37.50 USD"."""
    return f"{amount / 100:.2f} {currency.upper()}"
