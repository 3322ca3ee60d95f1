"""The bulk task: `email.send_bulk` opens a campaign, then runs its lanes one slice per message.

It is registered by hand (not through the registry's commands) because it re-queues itself:
each lane carries on under the same task id with `campaign_id` and `lane` until it is empty,
and the lane that finds the whole campaign done returns the per-recipient result, so the id
the gateway handed out ends with it.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.exceptions import Ignore
from switchboard_shared.commands import CORRELATION_HEADER
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.email import SendBulkEmail
from switchboard_shared.failures import ValidationFailure
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.tasks import KitTask

from . import bulk, campaigns


def register_bulk_task(app: Celery, registry: HandlerRegistry) -> None:
    @app.task(name=SendBulkEmail.task_name, bind=True, base=KitTask, queue=SendBulkEmail.queue)
    def send_bulk(
        self: KitTask, payload: Any = None, campaign_id: str | None = None, lane: int = 0
    ) -> dict[str, Any]:
        campaign_id = campaign_id or self.request.id
        correlation = getattr(self.request, CORRELATION_HEADER, None)
        if correlation is None and payload is None:  # a later slice: the campaign's own
            with self.runtime.session_factory() as session:
                correlation = campaigns.correlation_of(session, campaign_id)
        context = MessageContext.new(str(correlation or campaign_id), causation_id=self.request.id)
        if payload is not None:
            _open(self, registry, payload, campaign_id, context)
        with self.runtime.uow(context) as uow:
            step = registry.call(bulk.send_slice, campaign_id, uow, lane=lane)
        if not step.lane_done:
            self.run_again(step.wait, args=[], kwargs={"campaign_id": campaign_id, "lane": lane})
        if not step.finished:
            raise Ignore()  # another lane is still sending; the last one returns the result
        with self.runtime.session_factory() as session:
            return campaigns.campaign_result(session, campaign_id)


def _open(
    task: KitTask,
    registry: HandlerRegistry,
    payload: Any,
    campaign_id: str,
    context: MessageContext,
) -> None:
    """Store the campaign; lane 0 is this message, the other lanes start as their own."""
    if not isinstance(payload, dict):
        raise ValidationFailure(f"command payload must be an object, got {type(payload).__name__}")
    command = SendBulkEmail.model_validate(payload)
    with task.runtime.uow(context) as uow:
        lanes = registry.call(campaigns.open_campaign, command, uow, campaign_id=campaign_id)
    for lane in range(1, lanes):
        task.requeue(args=[], kwargs={"campaign_id": campaign_id, "lane": lane})
