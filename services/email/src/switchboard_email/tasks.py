"""The bulk task: `email.send_bulk` opens a campaign, then runs it one slice per message.

It is registered by hand (not through the registry's commands) because it re-queues itself:
the same task id carries on with `campaign_id` until every recipient has an outcome, so the
id the gateway returned ends with the whole per-recipient result.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from switchboard_shared.commands import CORRELATION_HEADER
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.email import SendBulkEmail
from switchboard_shared.failures import ValidationFailure
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.tasks import KitTask

from . import bulk


def register_bulk_task(app: Celery, registry: HandlerRegistry) -> None:
    @app.task(name=SendBulkEmail.task_name, bind=True, base=KitTask, queue=SendBulkEmail.queue)
    def send_bulk(
        self: KitTask, payload: Any = None, campaign_id: str | None = None
    ) -> dict[str, Any]:
        campaign_id = campaign_id or self.request.id
        correlation = getattr(self.request, CORRELATION_HEADER, None) or campaign_id
        context = MessageContext.new(str(correlation), causation_id=self.request.id)
        runtime = self.runtime
        if payload is not None:
            if not isinstance(payload, dict):
                raise ValidationFailure(
                    f"command payload must be an object, got {type(payload).__name__}"
                )
            command = SendBulkEmail.model_validate(payload)
            with runtime.uow(context) as uow:
                registry.call(bulk.open_campaign, command, uow, campaign_id=campaign_id)
        with runtime.uow(context) as uow:
            step = registry.call(bulk.send_slice, campaign_id, uow)
        if not step.finished:
            self.run_again(step.wait, args=[], kwargs={"campaign_id": campaign_id})
        with runtime.session_factory() as session:
            return bulk.campaign_result(session, campaign_id)
