"""In-memory stand-ins and sample data for gateway tests."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from switchboard_gateway.sender import BrokerUnavailable
from switchboard_shared.contracts import Command
from switchboard_shared.contracts.orders import OrderCreated
from switchboard_shared.testing import sample_order_created
from switchboard_shared.testsupport import provider_secrets

API_KEY = "test-key-0123456789"
OTHER_KEY = "second-key"
# The API process has no default secret: each run makes its own, as a deploy sets them.
SECRETS = provider_secrets()
WEBHOOK_SECRETS = {
    "stripe_webhook_secret": SECRETS["STRIPE_WEBHOOK_SECRET"],
    "twilio_auth_token": SECRETS["TWILIO_AUTH_TOKEN"],
}

_VALID_ORDER: dict[str, Any] = {
    "customer": {"email": "ada@example.com", "phone": "+15555550100"},
    "category": "cnc-machining",
    "region": "eu-west",
    "items": [{"sku": "bracket-al-6061", "quantity": 3, "unit_amount": 1250}],
    "currency": "usd",
    "payment_method": "pm_card_visa",
}


def valid_order() -> dict[str, Any]:
    return copy.deepcopy(_VALID_ORDER)


def order_created(order_id: str, *, amount: int = 3750, currency: str = "usd") -> OrderCreated:
    """The `order-created` event the orders service would publish for an order."""
    return sample_order_created(order_id, quantity=3, amount=amount, currency=currency)


@dataclass
class SentCommand:
    command: Command
    correlation_id: str
    task_id: str


@dataclass
class RecordingSender:
    """The `CommandSender` port in memory: remembers what it was asked to send."""

    sent: list[SentCommand] = field(default_factory=list)

    answers: dict[str, Any] = field(default_factory=dict)

    def send(self, command: Command, correlation_id: str, task_id: str | None = None) -> str:
        task_id = task_id or str(uuid.uuid4())
        self.sent.append(SentCommand(command, correlation_id, task_id))
        return task_id

    def call(self, command: Command, correlation_id: str, timeout: float = 10.0) -> Any:
        self.send(command, correlation_id)
        return self.answers[command.task_name]


class UnavailableSender:
    def send(self, command: Command, correlation_id: str, task_id: str | None = None) -> str:
        raise BrokerUnavailable("broker down")


class ExplodingSender:
    def send(self, command: Command, correlation_id: str, task_id: str | None = None) -> str:
        raise RuntimeError("secret internal detail: db password hunter2")
