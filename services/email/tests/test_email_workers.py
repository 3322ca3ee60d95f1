"""Real email workers on a real broker and SMTP server: priority and the shared rate limit."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
from celery import Celery
from smtp_server import RecordingHandler, smtp_server
from switchboard_shared.commands import send_command
from switchboard_shared.contracts.email import SendBulkEmail, SendEmail
from switchboard_shared.testsupport import WorkerProcess, redis_database, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
APP = "switchboard_email.app"


def client(broker: str) -> Celery:
    app = Celery("email-test-client", broker=broker, backend=broker, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
    return app


def start_workers(
    stack: ExitStack, broker: str, data: Path, smtp_port: int, count: int, **env: str
) -> list[WorkerProcess]:
    base = {
        "SWITCHBOARD_BROKER_URL": broker,
        "SWITCHBOARD_DATA_DIR": str(data),
        "SWITCHBOARD_RETRY_BASE_SECONDS": "1",
        "EMAIL_SMTP_PORT": str(smtp_port),
        **env,
    }
    workers = [
        WorkerProcess(APP, base, data / f"email-{i}.log", concurrency=int(env.get("C", "1")))
        for i in range(count)
    ]
    for worker in workers:
        stack.callback(worker.stop)
    with ThreadPoolExecutor(count) as pool:  # start together: each takes seconds to import
        list(pool.map(lambda w: w.start(90), workers))
    return workers


@pytest.fixture
def sink() -> Iterator[tuple[RecordingHandler, int]]:
    with smtp_server(RecordingHandler(keep_messages=False)) as server:
        yield server


def newsletter(n: int) -> SendBulkEmail:
    return SendBulkEmail(
        template="newsletter",
        common_context={"title": "Autumn news", "message": "Everything is in stock."},
        recipients=[
            {"to": f"reader{i}@example.com", "context": {"name": f"R{i}"}} for i in range(n)
        ],
    )


def test_urgent_mail_overtakes_a_2000_recipient_bulk_campaign(
    tmp_path: Path, sink: tuple[RecordingHandler, int]
) -> None:
    handler, port = sink
    with ExitStack() as stack:
        broker = stack.enter_context(redis_database())
        # One process: the only way the urgent mail gets out early is by being read first.
        start_workers(stack, broker, tmp_path, port, 1, EMAIL_RATE_LIMIT="off")
        app = client(broker)
        bulk_id = send_command(app, newsletter(2000))
        urgent = SendEmail(
            to="oncall@example.com", subject="Server down", text="now", priority="urgent"
        )
        urgent_id = send_command(app, urgent)

        wait_until(lambda: "oncall@example.com" in handler.to(), 60)
        bulk_before_urgent = handler.to().index("oncall@example.com")
        result = app.AsyncResult(bulk_id).get(timeout=180)
        assert app.AsyncResult(urgent_id).get(timeout=10)["status"] == "sent"

    assert bulk_before_urgent <= 300, f"{bulk_before_urgent} bulk mails went out before it"
    assert result["total"] == 2000 and result["counts"] == {"sent": 2000}
    assert [r["to"] for r in result["recipients"][:2]] == [
        "reader0@example.com",
        "reader1@example.com",
    ]
    assert len(handler.received) == 2001
    urgent_at = next(r.at for r in handler.received if r.recipients == ["oncall@example.com"])
    last_bulk_at = handler.received[-1].at
    assert last_bulk_at - urgent_at > 3 * (urgent_at - handler.received[0].at)
    # Every slice's events carry the campaign's correlation id, lanes and re-queues included.
    with sqlite3.connect(tmp_path / "email.db") as db:
        rows = db.execute("select event_type, envelope from outbox").fetchall()
    envelopes = [json.loads(envelope) for kind, envelope in rows if kind == "email-sent"]
    bulk_sent = [e for e in envelopes if e["data"]["campaign_id"] == bulk_id]
    assert len(bulk_sent) == 2000 and {e["correlationid"] for e in bulk_sent} == {bulk_id}
    assert [kind for kind, _ in rows].count("email-bulk-completed") == 1


def test_two_workers_together_stay_under_the_shared_rate_limit(
    tmp_path: Path, sink: tuple[RecordingHandler, int]
) -> None:
    handler, port = sink
    limit, window = 20, 5.0  # one token every 0.25 s, for all workers together
    with ExitStack() as stack:
        broker = stack.enter_context(redis_database())
        start_workers(stack, broker, tmp_path, port, 2, C="2", EMAIL_RATE_LIMIT=f"{limit}/5s")
        app = client(broker)
        ids = [
            send_command(app, SendEmail(to=f"user{i}@example.com", subject="Hi", text="x"))
            for i in range(24)
        ]
        ids.append(send_command(app, newsletter(12)))
        wait_until(lambda: len(handler.received) >= 36, 90)
        for task_id in ids:
            app.AsyncResult(task_id).get(timeout=30)
        time.sleep(0.5)

    times = sorted(r.at for r in handler.received)
    assert len(times) == 36
    assert times[-1] - times[0] >= 7.0  # 35 intervals of 0.25 s: the limit did hold them back
    jitter = 0.5  # time between taking a token and the message arriving varies by this much
    for i, start in enumerate(times):
        in_window = [t for t in times[i:] if t < start + window - jitter]
        assert len(in_window) <= limit, f"{len(in_window)} mails within {window - jitter}s"


def test_a_burst_of_mails_waits_in_reserved_slots_with_one_requeue_each(
    tmp_path: Path, sink: tuple[RecordingHandler, int]
) -> None:
    handler, port = sink
    # One slot every 0.5 s: far slower than even a loaded worker picks mails up, so the burst
    # meets the limit whatever the machine's speed.
    mails, rate = 6, 2.0
    with ExitStack() as stack:
        broker = stack.enter_context(redis_database())
        (worker,) = start_workers(stack, broker, tmp_path, port, 1, C="2", EMAIL_RATE_LIMIT="2/s")
        app = client(broker)
        ids = [
            send_command(app, SendEmail(to=f"user{i}@example.com", subject="Hi", text="x"))
            for i in range(mails)
        ]
        for task_id in ids:
            assert app.AsyncResult(task_id).get(timeout=30)["status"] == "sent"
        log = worker.output()

    times = sorted(r.at for r in handler.received)
    assert len(times) == mails
    assert times[-1] - times[0] >= (mails - 1) / rate - 0.2  # the limit held them back...
    assert times[-1] - times[0] <= mails / rate + 1.0  # ...and nobody waited past its slot
    requeues = {task_id: logged(log, task_id, "retry: Retry in") for task_id in ids}
    # One re-queue, then it went on its slot; a second only if the worker came back more than
    # half an interval late (a loaded machine), when it must queue afresh.
    assert max(requeues.values()) <= 2, requeues
    # Most waited (how many depends on how fast the worker picked the burst up: a mail read
    # after its token came finds it there); none waited twice.
    assert sum(requeues.values()) >= mails // 2
    assert sum(logged(log, task_id, "slot reserved") for task_id in ids) == sum(requeues.values())


def logged(log: str, task_id: str, text: str) -> int:
    """Worker log lines of one task whose message contains `text`."""
    entries = (json.loads(line) for line in log.splitlines() if line.startswith("{"))
    return sum(e.get("task_id") == task_id and text in e.get("event", "") for e in entries)
