"""Gateway reads and ledger ingest, each against a bare baseline in the same run.

    python bench/gateway_reads.py [--quick] [--tasks N] [--seconds S]

(a) reads: a ledger of N tasks (100,000) in the gateway's SQLite database; the real gateway
    (uvicorn, one process, auth, middleware, request log) answers GET /api/v1/tasks/{id} for
    random ids, against a bare FastAPI endpoint returning a same-sized JSON from memory.
    Closed loop (32 concurrent connections) for the maximum rate of each, then an open loop
    at 500 req/s for latency percentiles.
(b) ingest: task events published to Redis by Celery's event dispatcher (as workers send
    them, batched) and written by the ledger's receiver, against a bare event receiver that
    only counts them; events/s from first publish to last written.
Human-readable lines, then one JSON object as the last line. Figures are noisy on a shared
machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from switchboard_gateway.ledger.fold import new_row, when
from switchboard_gateway.ledger.queries import TaskLedger, task_json
from switchboard_gateway.ledger.writer import TASK_TABLE, upsert
from switchboard_gateway.models import Base
from switchboard_gateway.store import GatewayStore
from switchboard_shared.db import create_all, create_db_engine, create_session_factory
from switchboard_shared.settings import PlatformSettings
from switchboard_shared.testsupport import free_port, provider_secrets, redis_database

BENCH_DIR = Path(__file__).resolve().parent
KEY = "bench-key"
TARGETS = {"read_ratio": 0.5, "p99_ms_at_500": 20.0, "ingest_events_per_s": 2000.0}


def seed(data: Path, tasks: int) -> list[str]:
    # The gateway's own migrations make the schema, so the served gateway finds it current.
    store = GatewayStore.from_settings(PlatformSettings(data_dir=data, broker_url="memory://"))
    factory = store.runtime.session_factory
    ids, now = [], time.time()
    for start in range(0, tasks, 10_000):
        rows = []
        for index in range(start, min(tasks, start + 10_000)):
            task_id = f"bench-{index:07d}"
            row = new_row(task_id, task_id, "reports.generate", "reports", now - index)
            row |= {
                "state": "succeeded",
                "progress": 100.0,
                "queue": "reports.interactive",
                "worker": "reports@bench",
                "runtime": 1.25,
                "result": {"report_id": f"rep_{index}"},
                "started_at": when(now - index + 0.1),
                "completed_at": when(now - index + 1.35),
            }
            rows.append(row)
            ids.append(task_id)
        with factory() as session, session.begin():
            upsert(session, TASK_TABLE, rows)
    store.runtime.engine.dispose()
    return ids


def sample_json(data: Path, task_id: str) -> dict[str, Any]:
    engine = create_db_engine(f"sqlite:///{data / 'gateway.db'}")
    row = TaskLedger(create_session_factory(engine), ["reports"]).get(task_id)
    assert row is not None
    return task_json(row)


def serve(app: str, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--app-dir",
            str(BENCH_DIR),
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if process.poll() is not None:
        raise RuntimeError(f"{app} exited")
    deadline = time.monotonic() + 240  # a loaded machine imports slowly
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{app} did not start")


class Connection:
    """A minimal keep-alive HTTP/1.1 client: the load generator must cost less than the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {KEY}\r\n\r\n"
        self.writer.write(request.encode())
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return int(head.split(b" ", 2)[1])


async def closed_loop(port: int, ids: list[str], seconds: float, concurrency: int = 16) -> float:
    done = 0
    deadline = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal done
        connection = Connection(port)
        while time.monotonic() < deadline:
            assert await connection.get(f"/api/v1/tasks/{random.choice(ids)}") == 200
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return done / (time.monotonic() - started)


async def open_loop(
    port: int, ids: list[str], seconds: float, rate: float = 500.0
) -> dict[str, float]:
    """Requests scheduled at `rate`; latency counts from the scheduled time (no coordinated
    omission: a request waiting for a free connection is late, and that shows)."""
    latencies: list[float] = []
    schedule: asyncio.Queue[float] = asyncio.Queue()

    async def worker() -> None:
        connection = Connection(port)
        while (due := await schedule.get()) >= 0:
            assert await connection.get(f"/api/v1/tasks/{random.choice(ids)}") == 200
            latencies.append((time.perf_counter() - due) * 1000)

    workers = [asyncio.create_task(worker()) for _ in range(32)]
    started = time.perf_counter()
    for index in range(int(rate * seconds)):
        due = started + index / rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        schedule.put_nowait(due)
    for _ in workers:
        schedule.put_nowait(-1.0)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "achieved_rps": round(len(latencies) / elapsed, 1),
    }


def reads(tasks: int, seconds: float) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    began = time.monotonic()
    ids = seed(data, tasks)
    print(f"seeded {tasks} tasks in {time.monotonic() - began:.1f}s", flush=True)
    sample = json.dumps(sample_json(data, ids[0]))
    gateway_env = {
        "SWITCHBOARD_API_KEYS": KEY,
        "SWITCHBOARD_DATA_DIR": str(data),
        "SWITCHBOARD_BROKER_URL": "memory://",
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        **provider_secrets(),  # the API refuses to start without its provider secrets
    }
    figures: dict[str, Any] = {"tasks": tasks, "json_bytes": len(sample)}
    for label, app, env in (
        ("bare", "gateway_reads_bare:app", {"BENCH_TASK_JSON": sample}),
        ("gateway", "switchboard_gateway.main:app", gateway_env),
    ):
        port = free_port()
        process = serve(app, env, port)
        try:
            asyncio.run(closed_loop(port, ids, 1.0))  # warm up
            figures[f"{label}_max_rps"] = round(asyncio.run(closed_loop(port, ids, seconds)), 1)
            latency = asyncio.run(open_loop(port, ids, seconds))
            figures |= {f"{label}_{k}_at_500": v for k, v in latency.items()}
            print(
                f"{label}: {figures[f'{label}_max_rps']} req/s max; at 500 req/s {latency}",
                flush=True,
            )
        finally:
            process.terminate()
            process.wait(10)
    figures["read_ratio"] = round(figures["gateway_max_rps"] / figures["bare_max_rps"], 3)
    return figures


def task_event_batches(tasks: int) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for index in range(tasks):
        task_id = f"ingest-{index:07d}"
        events += [
            ("task-received", {"uuid": task_id, "name": "reports.generate", "retries": 0}),
            ("task-started", {"uuid": task_id}),
            ("task-progress", {"uuid": task_id, "progress": 50.0, "current_step": "halfway"}),
            ("task-succeeded", {"uuid": task_id, "result": "{'ok': True}", "runtime": 0.5}),
        ]
    return events


def measure_ingest(broker: str, receiver_factory: Any, tasks: int) -> float:
    """Events/s from the first publish until the receiver has handled every event."""
    from celery import Celery

    app = Celery("bench-ingest", broker=broker, set_as_current=False)
    events = task_event_batches(tasks)
    ready, finished = threading.Event(), threading.Event()
    with app.connection_for_read() as connection:
        receiver = receiver_factory(connection, app, len(events), ready, finished)
        thread = threading.Thread(
            target=receiver.run, kwargs={"safety_interval": 0.1, "wakeup": False}, daemon=True
        )
        thread.start()
        ready.wait(30)
        time.sleep(0.3)
        with app.connection_for_write() as out:
            dispatcher = app.events.Dispatcher(
                out, hostname="reports@bench", buffer_group=["task"], buffer_limit=200
            )
            started = time.perf_counter()
            for kind, fields in events:
                dispatcher.send(kind, **fields)
            dispatcher.flush()
        finished.wait(300)
        elapsed = time.perf_counter() - started
        receiver.should_stop = True
        thread.join(10)
    return len(events) / elapsed


def ledger_receiver(data: Path) -> Any:
    from switchboard_gateway.ledger.consumer import LedgerReceiver
    from switchboard_gateway.ledger.writer import LedgerWriter

    engine = create_db_engine(f"sqlite:///{data / 'ingest.db'}")
    create_all(engine, Base.metadata)
    writer = LedgerWriter(create_session_factory(engine), ["reports"])

    def build(connection: Any, app: Any, total: int, ready: Any, finished: Any) -> Any:
        class Receiver(LedgerReceiver):
            def on_consume_ready(self, *args: Any, **kwargs: Any) -> None:
                ready.set()

            def flush(self) -> None:
                super().flush()
                if self.written >= total:
                    finished.set()

        return Receiver(connection, app, writer)

    return build


def bare_receiver(connection: Any, app: Any, total: int, ready: Any, finished: Any) -> Any:
    from celery.events.receiver import EventReceiver

    seen = [0]

    def count(event: dict[str, Any]) -> None:
        seen[0] += 1
        if seen[0] >= total:
            finished.set()

    class Receiver(EventReceiver):
        def on_consume_ready(self, *args: Any, **kwargs: Any) -> None:
            ready.set()

    return Receiver(connection, handlers={"*": count}, app=app)


def ingest(tasks: int) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    figures: dict[str, Any] = {"ingest_events": tasks * 4}
    with redis_database() as broker:
        figures["bare_events_per_s"] = round(measure_ingest(broker, bare_receiver, tasks), 1)
        figures["ingest_events_per_s"] = round(
            measure_ingest(broker, ledger_receiver(data), tasks), 1
        )
    figures["ingest_ratio"] = round(
        figures["ingest_events_per_s"] / figures["bare_events_per_s"], 3
    )
    print(
        f"ingest: {figures['ingest_events_per_s']} events/s written vs {figures['bare_events_per_s']} "
        "counted by a bare receiver",
        flush=True,
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="5 s per load phase, 5,000 ingest tasks"
    )
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks in the ledger read from")
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 15.0)
    figures = {**reads(args.tasks, seconds), **ingest(5_000 if args.quick else 15_000)}
    figures["targets"] = TARGETS
    figures["meets"] = {
        "read_ratio": figures["read_ratio"] >= TARGETS["read_ratio"],
        "p99_ms_at_500": figures["gateway_p99_ms_at_500"] <= TARGETS["p99_ms_at_500"],
        "ingest_events_per_s": figures["ingest_events_per_s"] >= TARGETS["ingest_events_per_s"],
    }
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
