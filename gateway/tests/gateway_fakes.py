"""In-memory stand-ins and sample data for gateway tests."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from switchboard_gateway.sender import BrokerUnavailable
from switchboard_shared.contracts import Command

API_KEY = "test-key-0123456789"
OTHER_KEY = "second-key"

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


@dataclass
class SentCommand:
    command: Command
    correlation_id: str
    task_id: str


@dataclass
class RecordingSender:
    """The `CommandSender` port in memory: remembers what it was asked to send."""

    sent: list[SentCommand] = field(default_factory=list)

    def send(self, command: Command, correlation_id: str) -> str:
        task_id = str(uuid.uuid4())
        self.sent.append(SentCommand(command, correlation_id, task_id))
        return task_id


class UnavailableSender:
    def send(self, command: Command, correlation_id: str) -> str:
        raise BrokerUnavailable("broker down")


class ExplodingSender:
    def send(self, command: Command, correlation_id: str) -> str:
        raise RuntimeError("secret internal detail: db password hunter2")
