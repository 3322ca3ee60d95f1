"""Handing deliveries to the webhooks queue once the transaction that created them commits."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from celery import Celery
from sqlalchemy import event
from sqlalchemy.orm import Session
from switchboard_shared.commands import send_command
from switchboard_shared.contracts.integrations import DeliverWebhook

log = logging.getLogger("switchboard.integrations")


class DeliveryDispatcher(Protocol):
    def after_commit(
        self, session: Session, delivery_ids: Sequence[str], correlation_id: str
    ) -> None:
        """Send one attempt task per delivery when `session` commits (never before)."""


class CeleryDispatcher:
    """A task sent after commit can find its row. If the send itself fails, the delivery
    stays pending and the beat's `dispatch_due_webhooks` sweep sends it."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def after_commit(
        self, session: Session, delivery_ids: Sequence[str], correlation_id: str
    ) -> None:
        if not delivery_ids:
            return
        ids = list(delivery_ids)

        def send(_: Session) -> None:
            try:
                self.send_now(ids, correlation_id)
            except Exception:  # committed already: the sweep sends what is still pending
                log.exception("could not send %d webhook deliveries; the sweep will", len(ids))

        event.listen(session, "after_commit", send, once=True)

    def send_now(self, delivery_ids: Sequence[str], correlation_id: str) -> None:
        for delivery_id in delivery_ids:
            send_command(
                self.app, DeliverWebhook(delivery_id=delivery_id), correlation_id=correlation_id
            )


class RecordingDispatcher:
    """In-memory: remembers what would have been sent after commit (unit tests)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def after_commit(
        self, session: Session, delivery_ids: Sequence[str], correlation_id: str
    ) -> None:
        ids = list(delivery_ids)
        if ids:
            event.listen(session, "after_commit", lambda _: self.sent.extend(ids), once=True)

    def send_now(self, delivery_ids: Sequence[str], correlation_id: str) -> None:
        self.sent.extend(delivery_ids)
