"""A probe service that consumes its events in batches: `celery -A probe_batches worker`.

Two handlers per event: `record`, exactly-once through the kit's inbox (a plain INSERT per
event), and `record_idempotent`, idempotent by itself (writes its row only if missing, no inbox
row), whose effects are kept under the service name `batches-idem`. `record` does what the
event asks of it: `write` (default), `invalid` (fails validation), `hang` (sleeps, so the test
can kill it), `crash` (kills the worker's main process, where batches run: a poison message),
`db-down:N` (its first N runs fail as a lost database connection would).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from probe_common import Effect, ProbeHappened, probe_definition
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from switchboard_shared.celery_app import create_service_app
from switchboard_shared.failures import ValidationFailure
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.uow import UnitOfWork

SERVICE = "batches"
IDEMPOTENT = "batches-idem"
registry = HandlerRegistry()


@registry.on(ProbeHappened)
def record(event: ProbeHappened, uow: UnitOfWork) -> None:
    action = event.actions.get(SERVICE, "write")
    attempts = Path(event.scratch_dir, f"{SERVICE}-{event.probe_id}.attempts")
    with attempts.open("a") as f:
        f.write(f"{time.time()} {os.getpid()}\n")
    if action.startswith("db-down:") and len(attempts.read_text().splitlines()) <= int(
        action.split(":")[1]
    ):
        raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))
    if action == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "invalid":
        raise ValidationFailure(f"probe {event.probe_id} is not acceptable to {SERVICE}")
    if action == "hang" and not Path(event.scratch_dir, f"{event.probe_id}.hung").exists():
        Path(event.scratch_dir, f"{event.probe_id}.hung").write_text(str(os.getpid()))
        time.sleep(120)
    uow.session.add(Effect(probe_id=event.probe_id, service=SERVICE))  # once: the inbox


@registry.on(ProbeHappened, idempotent=True)
def record_idempotent(event: ProbeHappened, uow: UnitOfWork) -> None:
    found = uow.session.scalar(
        select(Effect).where(Effect.probe_id == event.probe_id, Effect.service == IDEMPOTENT)
    )
    if found is None:  # a redelivery finds the row and adds nothing
        uow.session.add(Effect(probe_id=event.probe_id, service=IDEMPOTENT))


definition = probe_definition(SERVICE, registry, batch_events=True)
app = create_service_app(definition)
