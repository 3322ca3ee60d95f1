"""The four report kinds: which events make their rows, and what their columns are called."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindSpec:
    kind: str
    title: str
    event_types: tuple[str, ...]
    reference: str  # what the row's subject is
    key: str  # what the row's key is

    @property
    def columns(self) -> list[str]:
        return ["time", "event", self.reference, self.key, "amount_minor", "latency_ms", "detail"]


KINDS: dict[str, KindSpec] = {
    "sales": KindSpec(
        "sales",
        "Sales report",
        ("payment-succeeded", "payment-refunded"),
        "order_id",
        "currency",
    ),
    "orders": KindSpec(
        "orders",
        "Orders report",
        ("order-created", "order-matched", "order-unmatched", "order-cancelled"),
        "order_id",
        "currency",
    ),
    "payments": KindSpec(
        "payments",
        "Payments report",
        ("payment-succeeded", "payment-failed", "payment-refunded"),
        "order_id",
        "currency_or_reason",
    ),
    "operations": KindSpec(
        "operations",
        "Operations report",
        (
            "email-sent",
            "email-bounced",
            "email-failed",
            "webhook-delivered",
            "webhook-failed",
            "sms-delivered",
            "sms-failed",
        ),
        "reference",
        "event_type_or_reason",
    ),
}

FORMATS: dict[str, tuple[str, str]] = {
    "pdf": ("application/pdf", "pdf"),
    "html": ("text/html; charset=utf-8", "html"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}
