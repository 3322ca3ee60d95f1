"""A probe service that batches one event type and runs the other as Celery tasks:
`celery -A probe_mixed worker` (ADR 0022, addendum 4).

`probe-happened` is one Celery task each, from `mixed.events`; `other-happened` is handled by
the batch consumer, from `mixed.events.batched`. Each handler writes one effect row, under
the service name that says which path ran it, through the kit's inbox.
"""

from __future__ import annotations

from probe_common import Effect, OtherHappened, ProbeHappened, probe_definition
from switchboard_shared.celery_app import create_service_app
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.uow import UnitOfWork

SERVICE = "mixed"
AS_TASK = "mixed-task"
IN_BATCH = "mixed-batch"
registry = HandlerRegistry()


@registry.on(ProbeHappened)
def record_as_task(event: ProbeHappened, uow: UnitOfWork) -> None:
    uow.session.add(Effect(probe_id=event.probe_id, service=AS_TASK))


@registry.on(OtherHappened)
def record_in_batch(event: OtherHappened, uow: UnitOfWork) -> None:
    uow.session.add(Effect(probe_id=event.probe_id, service=IN_BATCH))


definition = probe_definition(SERVICE, registry, batch_events=(OtherHappened,))
app = create_service_app(definition)
