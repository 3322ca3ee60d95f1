"""KitTask re-publishes a message with the slots its run still holds, and only those."""

from __future__ import annotations

from celery import Celery
from celery.app.task import Context
from switchboard_shared.ratelimit import SLOTS_HEADER, reservations
from switchboard_shared.scheduling import reservation_horizon
from switchboard_shared.tasks import KitTask

app = Celery("slots-test", set_as_current=False)
app.conf.broker_transport_options = {"visibility_timeout": 600}


@app.task(base=KitTask, bind=True, name="svc.job")
def job(self: KitTask) -> None:
    return None


def delivered(slots: dict[str, float]) -> Context:
    headers = {"sb_correlation_id": "c1", SLOTS_HEADER: slots}
    return Context(
        id="t1",
        args=[],
        kwargs={},
        headers=headers,
        delivery_info={"exchange": "", "routing_key": "svc.normal"},
        called_directly=False,
    )


def test_the_republished_message_holds_the_runs_unused_and_new_slots() -> None:
    request = delivered({"used": 10.0, "unused": 11.0})
    with reservations({"unused": 11.0, "new": 12.0}, max_wait=300):
        signature = job.signature_from_request(request, countdown=1.5)
    assert signature.options["headers"] == {
        "sb_correlation_id": "c1",
        SLOTS_HEADER: {"unused": 11.0, "new": 12.0},
    }


def test_no_slot_is_carried_once_used_or_from_outside_a_run() -> None:
    with reservations({}, max_wait=300):
        used_up = job.signature_from_request(delivered({"used": 10.0}))
    lost_worker = job.signature_from_request(delivered({"maybe-used": 10.0}))
    for signature in (used_up, lost_worker):
        assert signature.options["headers"] == {"sb_correlation_id": "c1"}


def test_slots_are_reserved_at_most_half_the_visibility_timeout_ahead() -> None:
    assert reservation_horizon(app.conf) == 300
