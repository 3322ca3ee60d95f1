"""Event throughput: outbox → relay → Redis → inbox handler, against bare Celery, on one broker.

    python bench/event_throughput.py [--quick] [--n N] [--db sqlite|postgresql|both]
                                     [--consumer batches|tasks|both]

Per database it measures, in one run on the same Redis (a flushed logical database):
  (a) platform: N events written through the unit of work/outbox (committed in batches, as a
      producer service would), published by `OutboxRelay.sweep()` (publish rate), then consumed
      by a real prefork worker (-c 2) of a kit service whose one handler does one small DB write
      with the inbox (consume rate, first to last handled, from the rows' timestamps), once per
      consumer mode, each with its own fresh sink database: `batches` (the events queue read by
      the kit's batch consumer, one transaction per batch: ADR 0022, what a service whose
      handlers only write its database uses) and `tasks` (one Celery task, one transaction
      per event); the targets are checked on `batches`, and `tasks` is printed beside it;
  (b) bare baseline: N bare Celery no-op tasks `.delay()`-ed from one thread, then drained by a
      prefork worker (-c 2) with the platform worker's prefetch multiplier (consume rate, first
      to last "succeeded" in the worker log);
  (c) commit→handled latency under no load: events published one at a time through
      `uow.commit()` (which relays right after commit), spaced ~20 ms apart; latency is the
      handler's row timestamp minus the time taken just before the commit.
Human-readable lines, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import bench_service  # noqa: E402
import redis  # noqa: E402
from bench_service import SINK, SOURCE, BenchEffect, BenchHappened  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from switchboard_shared.context import MessageContext  # noqa: E402
from switchboard_shared.settings import ServiceSettings  # noqa: E402
from switchboard_shared.testsupport import REDIS_URL, WorkerProcess, pg_database  # noqa: E402
from switchboard_shared.uow import SqlAlchemyUnitOfWork  # noqa: E402

TARGETS = {
    "consume_ratio": 0.6,
    "publish_ratio": 1.0,
    "latency_p50_ms": 15.0,
    "latency_p99_ms": 60.0,
}
COMMIT_BATCH = 100  # events per producer transaction when filling the outbox
WORKER_CONCURRENCY = 2


# Each database's run builds its own apps with the same task names, as separate services would.
warnings.filterwarnings("ignore", message=".*already registered to a different callable")


def log(line: str) -> None:
    print(line, flush=True)


# --------------------------------------------------------------------------- infrastructure


@contextmanager
def bench_redis(index: int | None) -> Iterator[str]:
    """A flushed Redis logical database, flushed again afterwards.

    Prefers an empty one (from 15 down) so a concurrent test run is unlikely to share it.
    """
    if index is None:
        admin = redis.Redis.from_url(f"{REDIS_URL}/0")
        used = {int(k[2:]) for k in admin.info("keyspace") if k.startswith("db")}
        admin.close()
        free = [i for i in range(15, 0, -1) if i not in used]
        index = free[0] if free else 15
    url = f"{REDIS_URL}/{index}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.set(SENTINEL, "1")
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


CONSUMERS = ("batches", "tasks")


@contextmanager
def database(kind: str, scratch: Path, name: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{scratch / f'{name}.db'}"
    else:
        with pg_database() as url:
            yield url


@contextmanager
def worker(app: str, env: dict[str, str], log_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(app, env, log_path, concurrency=WORKER_CONCURRENCY)
    try:
        process.start(timeout=60)
        yield process
    finally:
        process.stop()
        if process.process is not None and process.process.poll() is None:
            process.process.kill()


SENTINEL = "switchboard-bench:sentinel"
_broker_url = ""


def broker_intact() -> None:
    """Test runs flush Redis logical databases 1-15; a flush mid-bench loses the queues."""
    if _broker_url and not redis.Redis.from_url(_broker_url).exists(SENTINEL):
        raise RuntimeError(
            f"{_broker_url} was flushed by another process during the bench (a concurrent test "
            "run?): queued messages are gone; rerun, or pick a database with --redis-db"
        )


def wait_for(
    predicate: Any, timeout: float, what: str, interval: float = 0.05, progress: Any = None
) -> None:
    deadline = time.monotonic() + timeout
    checked = time.monotonic()
    while not predicate():
        if time.monotonic() - checked > 1:
            broker_intact()
            checked = time.monotonic()
        if time.monotonic() > deadline:
            what = what.format(progress()) if progress else what
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------- the platform


class Platform:
    def __init__(self, broker_url: str, source_url: str, sink_url: str, batches: bool) -> None:
        self.broker_url = broker_url
        self.source_app = bench_service.build(
            SOURCE, broker_url, broker_url, source_url, handlers=False
        )
        self.sink_app = bench_service.build(
            SINK, broker_url, broker_url, sink_url, batch_events=batches
        )
        self.source = self.source_app.runtime  # type: ignore[attr-defined]
        self.sink = self.sink_app.runtime  # type: ignore[attr-defined]
        self.source.create_schema()
        self.sink.create_schema()
        self._declare_sink_queues()

    def _declare_sink_queues(self) -> None:
        """Bindings exist before anything is published, as in a deployed system."""
        with self.sink_app.connection_for_write() as connection:
            channel = connection.default_channel
            for queue in self.sink_app.conf.task_queues:
                queue(channel).declare()

    def fill_outbox(self, n: int) -> float:
        """N events through the unit of work, COMMIT_BATCH per transaction; no relay on commit."""
        started = time.perf_counter()
        for first in range(0, n, COMMIT_BATCH):
            context = MessageContext.new(f"bench-{first}")
            with SqlAlchemyUnitOfWork(
                self.source.session_factory, service=SOURCE, context=context, relay=None
            ) as uow:
                for seq in range(first, min(n, first + COMMIT_BATCH)):
                    uow.publish(BenchHappened(seq=seq, phase="throughput", sent_at=time.time()))
                uow.commit()
        return time.perf_counter() - started

    def relay_sweep(self) -> tuple[int, float]:
        started = time.perf_counter()
        published = self.source.relay.sweep()
        return published, time.perf_counter() - started

    def publish_one(self, seq: int) -> None:
        """One event through `uow.commit()`, which relays it right after the commit."""
        with self.source.uow(MessageContext.new(f"latency-{seq}")) as uow:
            uow.publish(BenchHappened(seq=seq, phase="latency", sent_at=time.time()))
            uow.commit()

    def effects(self, phase: str) -> int:
        with self.sink.session_factory() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(BenchEffect).where(BenchEffect.phase == phase)
                )
                or 0
            )

    def span(self, phase: str) -> tuple[float, float]:
        with self.sink.session_factory() as session:
            low, high = session.execute(
                select(func.min(BenchEffect.handled_at), func.max(BenchEffect.handled_at)).where(
                    BenchEffect.phase == phase
                )
            ).one()
        return float(low), float(high)

    def latencies(self) -> list[float]:
        with self.sink.session_factory() as session:
            rows = session.execute(
                select(BenchEffect.sent_at, BenchEffect.handled_at).where(
                    BenchEffect.phase == "latency"
                )
            ).all()
        return [(handled - sent) * 1000 for sent, handled in rows]

    def close(self) -> None:
        self.source.engine.dispose()
        self.sink.engine.dispose()


def worker_env(
    broker_url: str, sink_url: str, scratch: Path, batches: bool = False
) -> dict[str, str]:
    return {
        "BENCH_BATCH_EVENTS": "1" if batches else "0",
        "BENCH_BROKER_URL": broker_url,
        "BENCH_REDIS_URL": broker_url,
        "BENCH_DATABASE_URL": sink_url,
        "SWITCHBOARD_DATA_DIR": str(scratch),
        "PYTHONPATH": os.pathsep.join(
            p for p in [str(BENCH_DIR), os.environ.get("PYTHONPATH", "")] if p
        ),
    }


def run_platform(
    consumer: str,
    n: int,
    latency_n: int,
    broker_url: str,
    source_url: str,
    sink_url: str,
    scratch: Path,
) -> dict[str, float]:
    batches = consumer == "batches"
    log(f"  -- consumer: {consumer}")
    platform = Platform(broker_url, source_url, sink_url, batches)
    try:
        write_s = platform.fill_outbox(n)
        log(
            f"  outbox: {n} events written in {write_s:.2f}s ({n / write_s:,.0f}/s, "
            f"{COMMIT_BATCH} per commit)"
        )
        published, publish_s = platform.relay_sweep()
        if published != n:
            raise RuntimeError(f"relay published {published}, expected {n}")
        publish_rate = n / publish_s
        log(f"  relay:  {n} published in {publish_s:.2f}s -> {publish_rate:,.0f}/s")
        with worker(
            "bench_service",
            worker_env(broker_url, sink_url, scratch, batches),
            scratch / f"sink-worker-{consumer}.log",
        ):
            wait_for(
                lambda: platform.effects("throughput") >= n,
                60 + n / 20,
                f"{n} handled (got {{}})",
                progress=lambda: platform.effects("throughput"),
            )
            first, last = platform.span("throughput")
            consume_rate = (n - 1) / (last - first)
            log(f"  worker: {n} handled in {last - first:.2f}s -> {consume_rate:,.0f}/s")
            # (c) latency under no load, same worker, now idle.
            for _ in range(5):  # warm the producer's connections and the pool children
                platform.publish_one(-1)
                time.sleep(0.02)
            wait_for(lambda: platform.effects("latency") >= 5, 30, "warm-up events")
            with platform.sink.session_factory() as session, session.begin():
                session.query(BenchEffect).filter(BenchEffect.phase == "latency").delete()
            for seq in range(latency_n):
                platform.publish_one(seq)
                time.sleep(0.02)
            wait_for(lambda: platform.effects("latency") >= latency_n, 60, "latency events")
            samples = sorted(platform.latencies())
        p50 = statistics.median(samples)
        p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
        log(
            f"  latency commit->handled over {len(samples)}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"max {samples[-1]:.1f} ms"
        )
        return {
            "platform_publish_per_s": publish_rate,
            "platform_consume_per_s": consume_rate,
            "latency_p50_ms": p50,
            "latency_p99_ms": p99,
        }
    finally:
        platform.close()


# --------------------------------------------------------------------------- bare Celery

_SUCCEEDED = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/[^\]]*\] Task bare\.noop\["
)


def _succeeded_times(log_text: str) -> list[float]:
    times = []
    for line in log_text.splitlines():
        if "succeeded in" not in line:
            continue
        match = _SUCCEEDED.match(line)
        if match:
            times.append(datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp())
    return times


def platform_prefetch() -> int:
    """The sink worker's prefetch multiplier: the kit's default unless `--sink-conf` sets one."""
    override = json.loads(os.environ.get("BENCH_SINK_CONF") or "{}")
    default = ServiceSettings().prefetch_multiplier
    return int(override.get("worker_prefetch_multiplier", default))


def run_bare(n: int, broker_url: str, scratch: Path) -> dict[str, float]:
    import bench_bare

    prefetch = platform_prefetch()
    bare = bench_bare.build(broker_url, prefetch)
    noop = bare.tasks["bare.noop"]
    with bare.connection_for_write() as connection:
        connection.ensure_connection()
    started = time.perf_counter()
    for _ in range(n):
        noop.delay()
    publish_s = time.perf_counter() - started
    publish_rate = n / publish_s
    log(f"  bare publish: {n} .delay() in {publish_s:.2f}s -> {publish_rate:,.0f}/s")
    log_path = scratch / "bare-worker.log"
    env = {**worker_env(broker_url, "", scratch), "BENCH_PREFETCH_MULTIPLIER": str(prefetch)}
    with worker("bench_bare", env, log_path) as process:
        wait_for(
            lambda: len(_succeeded_times(process.output())) >= n, 60 + n / 50, f"{n} bare tasks"
        )
        times = _succeeded_times(process.output())
    consume_rate = (n - 1) / (max(times) - min(times))
    log(f"  bare worker: {n} in {max(times) - min(times):.2f}s -> {consume_rate:,.0f}/s")
    bare.close()
    return {
        "bare_publish_per_s": publish_rate,
        "bare_consume_per_s": consume_rate,
        "prefetch_multiplier": prefetch,
    }


# --------------------------------------------------------------------------- main


def run_db(
    kind: str, n: int, latency_n: int, redis_db: int | None, consumers: list[str]
) -> dict[str, Any]:
    log(f"== {kind}: N={n} (load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sb-bench-")))
        broker_url = stack.enter_context(bench_redis(redis_db))
        global _broker_url
        _broker_url = broker_url
        source_url = stack.enter_context(database(kind, scratch, "benchsrc"))
        log(f"  broker {broker_url}; source database {source_url.split('@')[-1]}")
        modes: dict[str, dict[str, float]] = {}
        try:
            for consumer in consumers:
                sink_url = stack.enter_context(database(kind, scratch, f"benchsink-{consumer}"))
                modes[consumer] = run_platform(
                    consumer, n, latency_n, broker_url, source_url, sink_url, scratch
                )
            bare = run_bare(n, broker_url, scratch)
        except BaseException:
            for path in sorted(scratch.glob("*-worker*.log")):
                log(f"--- tail of {path.name}:\n{path.read_text(errors='replace')[-2000:]}")
            raise
    result: dict[str, Any] = {**bare}
    for consumer, figures in modes.items():
        figures["publish_ratio"] = figures["platform_publish_per_s"] / bare["bare_publish_per_s"]
        figures["consume_ratio"] = figures["platform_consume_per_s"] / bare["bare_consume_per_s"]
        figures["targets_met"] = {
            "consume_ratio": figures["consume_ratio"] >= TARGETS["consume_ratio"],
            "publish_ratio": figures["publish_ratio"] >= TARGETS["publish_ratio"],
            "latency_p50": figures["latency_p50_ms"] <= TARGETS["latency_p50_ms"],
            "latency_p99": figures["latency_p99_ms"] <= TARGETS["latency_p99_ms"],
        }
        log(
            f"  {consumer}: publish ratio {figures['publish_ratio']:.2f} "
            f"(target ≥ {TARGETS['publish_ratio']}), consume ratio {figures['consume_ratio']:.2f} "
            f"(target ≥ {TARGETS['consume_ratio']}), latency p50 {figures['latency_p50_ms']:.1f} ms "
            f"p99 {figures['latency_p99_ms']:.1f} ms; targets met: {figures['targets_met']}"
        )
        result[consumer] = {
            k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()
        }
    checked = "batches" if "batches" in modes else consumers[0]
    result["targets_met"] = result[checked]["targets_met"]
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds the ExitStacks: workers, databases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=1000, 100 latency samples")
    parser.add_argument("--n", type=int, help="events (and bare tasks) per measurement")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--latency-n", type=int, help="latency samples (default 200, quick 100)")
    parser.add_argument(
        "--sink-conf",
        help="experiment: JSON of Celery settings laid over the sink service's (not the kit's defaults)",
    )
    parser.add_argument(
        "--redis-db", type=int, help="Redis logical database (default: an empty one)"
    )
    parser.add_argument(
        "--consumer",
        choices=[*CONSUMERS, "both"],
        default="both",
        help="how the sink consumes: batches (checked against the targets), tasks, or both",
    )
    args = parser.parse_args(argv)
    n = args.n or (1000 if args.quick else 5000)
    latency_n = args.latency_n or (100 if args.quick else 200)
    signal.signal(signal.SIGTERM, _terminate)
    if args.sink_conf:
        json.loads(args.sink_conf)
        os.environ["BENCH_SINK_CONF"] = args.sink_conf
        log(f"EXPERIMENT: sink worker settings overridden with {args.sink_conf}")
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    consumers = list(CONSUMERS) if args.consumer == "both" else [args.consumer]
    results = {kind: run_db(kind, n, latency_n, args.redis_db, consumers) for kind in kinds}
    summary = {
        "bench": "event_throughput",
        "n": n,
        "latency_samples": latency_n,
        "targets": TARGETS,
        "sink_conf_experiment": json.loads(args.sink_conf) if args.sink_conf else None,
        "targets_checked_on": "batches" if "batches" in consumers else consumers[0],
        **results,
        "targets_met": all(all(r["targets_met"].values()) for r in results.values()),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
