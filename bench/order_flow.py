"""Order flow end to end: orders placed through the gateway until `matched`, against a floor.

    python bench/order_flow.py [--quick] [--n N] [--rate R] [--capacity-rate C] [--latency-n M]

Starts, as real processes (as tests/e2e/test_order_to_cash.py does): localstripe through
our launcher (switchboard_gateway.localstripe_server, --from-scratch, persistence off) with a
signed webhook to the gateway, the gateway API (uvicorn), Celery
workers (-c 2) of gateway, orders, payments and email (its rate limit at EMAIL_RATE_LIMIT,
above the offered rate, with a second's allowance as its burst), an SMTP server, a flushed Redis
logical database as the broker and fresh PostgreSQL databases for the gateway, orders and
payments.
Then, in one run:
  (1) throughput: a supplier with enough capacity, then N orders (default 1000, quick 150)
      POSTed at a steady offered rate (default 30/s, the target) from a thread pool; the
      matched rate is N / (first POST -> last order-matched), latency is the order-matched
      event's `time` in the event log minus the POST's send time (both UTC epoch);
  (1b) capacity: N more orders offered well above the target (default 60/s): what the
      platform sustains (at exactly 30/s offered, the matched rate cannot exceed 30); the
      throughput target is checked on the higher of the two matched rates;
  (2) latency: M orders (default 200, quick 50) at 10 orders/s, once every queue has been
      empty for 2 s: p50 (held against 3x the floor, which is also taken at light load) and
      p99;
  (3) floor: the same number of hops (command, event, event, event = 4) as bare chained
      Celery no-op tasks on the same Redis broker (one worker -c 2), ~20 chains/s: half of
      the chains before the order runs and half after them, pooled (drift moves both alike).
  (4) bare drain rate: 2,000 bare Celery no-op tasks queued, then drained by one bare worker
      (-c 2, the kit's prefetch), on a Redis database of its own, once before the platform
      starts and once after it stops (event_throughput.py's baseline). The issue's 30/s
      was set where bare Celery drained about 650/s; machines here differ by half again, so the
      throughput is also given per bare task drained: target 30/650.
  Plus a localstripe probe: POST /v1/customers timed before and after (stock localstripe
  pickles its whole store on every write, so its writes slowed down as it grew).
Each order is sent at a random instant within its slot of 1/rate s (seeded): the offered rate
is exact, but no order runs in step with a periodic process. localstripe sends every webhook
exactly 1 s after its event, so with orders exactly 100 ms apart the webhook of order n-10
(verified by the gateway, logged, handled by payments) landed in order n's payment hop every
time, which real Stripe's deliveries do not. `--phase-locked` sends at exact multiples of
1/rate, as earlier versions of this bench did.
Human-readable lines, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import httpx  # noqa: E402
import redis  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from switchboard_shared.testsupport import (  # noqa: E402
    WorkerProcess,
    free_port,
    pg_database,
    provider_secrets,
    redis_database,
    wait_until,
)

KEY = "bench-key"
SECRETS = provider_secrets()  # handed to every process, localstripe too: there is no default
WEBHOOK_SECRET = SECRETS["STRIPE_WEBHOOK_SECRET"]
STRIPE_AUTH = {"Authorization": f"Bearer {SECRETS['PAYMENTS_STRIPE_API_KEY']}"}
HOPS = 4  # PlaceOrder command -> order-created -> payment-succeeded -> order-matched
EMAIL_RATE_LIMIT = "6000/m"
# Providers count their send rate per second. With a burst of 1 the shared bucket spaces mail
# 10 ms apart, and a third of the confirmations (two orders matched within 10 ms) were
# re-queued to their slot: a second Celery task each, work no provider's limit asks for.
EMAIL_RATE_LIMIT_BURST = "100"
TARGETS = {"throughput_per_s": 30.0, "p99_at_10_per_s_ms": 1000.0, "p50_vs_floor": 3.0}
# The 30/s was set on a machine where bare Celery drained about 650 no-op tasks/s.
REFERENCE_BARE_PER_S = 650.0
BARE_TASKS = 2000
QUANTITY = 1
ORDER = {
    "customer": {"email": "bench@example.com", "phone": "+15555550100"},
    "category": "cnc-machining",
    "region": "eu-west",
    "items": [{"sku": "bracket", "quantity": QUANTITY, "unit_amount": 1250}],
    "currency": "usd",
    "payment_method": "pm_card_visa",
}


def log(line: str) -> None:
    print(line, flush=True)


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def parse_time(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# --------------------------------------------------------------------------- infrastructure


class Inbox:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def _answers(url: str, auth: bool = False) -> bool:
    try:
        headers = STRIPE_AUTH if auth else {}
        return httpx.get(url, headers=headers, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


@contextmanager
def process(
    command: list[str], env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)


@contextmanager
def worker(app: str, env: dict[str, str], log_path: Path) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(app, env, log_path, concurrency=2)
    try:
        proc.start(timeout=60)
        yield proc
    finally:
        proc.stop()
        if proc.process is not None and proc.process.poll() is None:
            os.killpg(proc.process.pid, signal.SIGKILL)


@contextmanager
def smtp_server(port: int) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


class Platform:
    def __init__(self, stack: ExitStack, data: Path) -> None:
        smtp_port = free_port()
        self.inbox = stack.enter_context(smtp_server(smtp_port))
        stripe_port, api_port = free_port(), free_port()
        self.broker = stack.enter_context(redis_database())
        self.data = data
        env = {
            "SWITCHBOARD_BROKER_URL": self.broker,
            "SWITCHBOARD_DATA_DIR": str(data),
            "SWITCHBOARD_API_KEYS": KEY,
            **SECRETS,
            "GATEWAY_DATABASE_URL": stack.enter_context(pg_database()),
            "ORDERS_DATABASE_URL": stack.enter_context(pg_database()),
            "PAYMENTS_DATABASE_URL": stack.enter_context(pg_database()),
            "PAYMENTS_STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
            "EMAIL_SMTP_HOST": "127.0.0.1",
            "EMAIL_SMTP_PORT": str(smtp_port),
            # The mail provider's allowance sized for the order rate, as a deployment taking
            # 30 orders/s would have it: at the default 50/m every confirmation would be
            # deferred and run twice, and the mail backlog would grow without end.
            "EMAIL_RATE_LIMIT": EMAIL_RATE_LIMIT,
            "EMAIL_RATE_LIMIT_BURST": EMAIL_RATE_LIMIT_BURST,
        }
        self.env = env
        py = sys.executable
        self.pids: dict[str, int] = {}
        self.pids["localstripe"] = stack.enter_context(
            process(
                [
                    py,
                    "-m",
                    "switchboard_gateway.localstripe_server",
                    "--port",
                    str(stripe_port),
                    "--from-scratch",
                    "--persist-seconds",
                    "0",
                ],
                env,
                data / "localstripe.log",
            )
        ).pid
        self.pids["api"] = stack.enter_context(
            process(
                [
                    py,
                    "-m",
                    "uvicorn",
                    "switchboard_gateway.main:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(api_port),
                ],
                env,
                data / "gateway-api.log",
            )
        ).pid
        self.workers: dict[str, WorkerProcess] = {}
        for name, module in [
            ("gateway", "switchboard_gateway.app"),
            ("orders", "switchboard_orders.app"),
            ("payments", "switchboard_payments.app"),
            ("email", "switchboard_email.app"),
        ]:
            self.workers[name] = stack.enter_context(worker(module, env, data / f"{name}.log"))
        self.base = f"http://127.0.0.1:{api_port}"
        self.stripe = f"http://127.0.0.1:{stripe_port}"
        wait_until(lambda: _answers(f"{self.base}/api/v1/health"), 30)
        wait_until(lambda: _answers(f"{self.stripe}/v1/balance", auth=True), 30)
        httpx.post(
            f"{self.stripe}/_config/webhooks/bench",
            data={"url": f"{self.base}/webhooks/stripe", "secret": WEBHOOK_SECRET},
        ).raise_for_status()
        self.http = stack.enter_context(self.client())

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        )

    def all_pids(self) -> dict[str, list[int]]:
        out = {k: [v] for k, v in self.pids.items()}
        for name, w in self.workers.items():
            assert w.process is not None
            out[f"{name}-worker"] = [w.process.pid, *w.children()]
        return out


# --------------------------------------------------------------------------- order runs


def place_orders(
    platform: Platform, n: int, rate: float, label: str, *, phase_locked: bool = False
) -> dict[str, Any]:
    """POST n orders at `rate`/s, one at a random instant of each 1/rate slot (at its start if
    `phase_locked`); wait until all are matched; latencies from the event log."""
    sent: dict[str, float] = {}  # order id -> POST send time (epoch)
    post_ms: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        at = time.time()
        started = time.perf_counter()
        try:
            response = client.post("/api/v1/orders", json=ORDER)
        except httpx.HTTPError as exc:
            with lock:
                errors.append(repr(exc))
            return
        took = (time.perf_counter() - started) * 1000
        with lock:
            post_ms.append(took)
            if response.status_code != 202:
                errors.append(f"{response.status_code} {response.text[:200]}")
            else:
                sent[response.json()["order_id"]] = at

    before = matched_events(platform)
    seen_before = set(before)
    first_post = time.time()
    start = time.perf_counter()
    within_slot = random.Random(n)
    # One client shared by the sending threads (httpx's is thread-safe), made before the
    # clock starts: a client per thread cost the bench process a TLS context each, on the
    # cores the platform was being measured on.
    client = platform.client()
    with client, ThreadPoolExecutor(max_workers=16) as pool:
        futures = []
        for i in range(n):
            offset = 0.0 if phase_locked else within_slot.random()
            delay = start + (i + offset) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(one, i))
        for f in futures:
            f.result()
    offered_s = time.perf_counter() - start
    log(
        f"  {label}: {n} POSTs in {offered_s:.1f}s (offered {n / offered_s:.1f}/s); POST "
        f"p50 {statistics.median(post_ms):.0f} ms, p99 {pct(post_ms, 0.99):.0f} ms, "
        f"max {max(post_ms):.0f} ms; errors {len(errors)}"
    )
    if errors:
        log(f"    first errors: {errors[:3]}")
    matched: dict[str, float] = {}
    deadline = time.monotonic() + 120 + n / 5
    last_progress = time.monotonic()
    while True:
        # Poll the count only (the whole log is read once, at the end): reading every event
        # twice a second would take the gateway's CPU from the orders being measured.
        if matched_count(platform) >= len(before) + len(sent):
            events = matched_events(platform)
            matched = {c: t for c, t in events.items() if c in sent and c not in seen_before}
            if len(matched) >= len(sent):
                break
        if time.monotonic() > deadline:
            events = matched_events(platform)
            matched = {c: t for c, t in events.items() if c in sent and c not in seen_before}
            statuses = order_statuses(platform, [o for o in sent if o not in matched][:20])
            raise TimeoutError(
                f"{label}: {len(matched)}/{len(sent)} matched; some of the rest: {statuses}"
            )
        if time.monotonic() - last_progress > 10:
            log(f"    ... {matched_count(platform) - len(before)}/{len(sent)} matched")
            last_progress = time.monotonic()
        time.sleep(0.5)
    latencies = [(matched[o] - sent[o]) * 1000 for o in sent]
    stages = stage_medians(platform, sent, matched)
    last = max(matched.values())
    span = last - first_post
    result = {
        "n": n,
        "offered_per_s": n / offered_s,
        "post_errors": len(errors),
        "post_p50_ms": statistics.median(post_ms),
        "post_p99_ms": pct(post_ms, 0.99),
        "matched_per_s": len(sent) / span,
        "first_post_to_last_matched_s": span,
        "p50_ms": pct(latencies, 0.5),
        "p95_ms": pct(latencies, 0.95),
        "p99_ms": pct(latencies, 0.99),
        "max_ms": max(latencies),
        "stage_p50_ms": stages,
    }
    log(f"  {label}: p50 per stage (ms): {stages}")
    log(
        f"  {label}: {len(sent)} matched in {span:.1f}s from first POST -> "
        f"{result['matched_per_s']:.1f} orders/s; POST->matched p50 {result['p50_ms']:.0f} ms, "
        f"p95 {result['p95_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, max {result['max_ms']:.0f} ms"
    )
    return result


def matched_count(platform: Platform) -> int:
    """How many order-matched events the gateway's log holds (one item read)."""
    page = platform.http.get("/api/v1/events", params={"type": "order-matched", "limit": 1})
    page.raise_for_status()
    return int(page.json()["total"])


def matched_events(platform: Platform) -> dict[str, float]:
    """correlation id (= order id) -> order-matched time, the whole log, 1000 a page."""
    return event_times(platform, "order-matched")


def event_times(platform: Platform, event_type: str) -> dict[str, float]:
    """correlation id (= order id) -> when its `event_type` event was written."""
    out: dict[str, float] = {}
    offset = 0
    while True:
        page = platform.http.get(
            "/api/v1/events", params={"type": event_type, "limit": 1000, "offset": offset}
        )
        page.raise_for_status()
        body = page.json()
        for item in body["items"]:
            out[item["correlation_id"]] = parse_time(item["time"])
        offset += len(body["items"])
        if not body["items"] or offset >= body["total"]:
            return out


def stage_medians(
    platform: Platform, sent: dict[str, float], matched: dict[str, float]
) -> dict[str, float]:
    """Median time of each hop of the flow, from the event times in the gateway's log."""
    created = event_times(platform, "order-created")
    paid = event_times(platform, "payment-succeeded")
    hops = {
        "post_to_order_created": (sent, created),
        "order_created_to_payment_succeeded": (created, paid),
        "payment_succeeded_to_order_matched": (paid, matched),
    }
    return {
        name: round(statistics.median((end[o] - start[o]) * 1000 for o in sent), 1)
        for name, (start, end) in hops.items()
    }


def settle(platform: Platform, quiet_s: float = 2.0, timeout_s: float = 300.0) -> float:
    """Wait until every queue on the broker has been empty for `quiet_s` (longer than
    localstripe's 1 s webhook delay); returns the seconds waited. The latency run then
    measures 10 orders/s, not the mail and webhooks a run above capacity left behind."""
    client = redis.Redis.from_url(platform.broker)
    started = quiet_since = time.monotonic()
    try:
        while time.monotonic() - quiet_since < quiet_s:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"queues not drained after {timeout_s:.0f}s")
            lists = [k for k in client.scan_iter(count=1000) if client.type(k) == b"list"]
            if any(client.llen(k) for k in lists):
                quiet_since = time.monotonic()
            time.sleep(0.2)
    finally:
        client.close()
    return time.monotonic() - started


def order_statuses(platform: Platform, ids: list[str]) -> dict[str, str]:
    return {o: platform.http.get(f"/api/v1/orders/{o}").json().get("status", "?") for o in ids}


def stripe_probe(platform: Platform, count: int = 5) -> dict[str, float]:
    """Time localstripe writes (POST /v1/customers)."""
    times = []
    with httpx.Client(headers=STRIPE_AUTH, timeout=30) as client:
        for i in range(count):
            started = time.perf_counter()
            client.post(f"{platform.stripe}/v1/customers", data={"email": f"probe{i}@example.com"})
            times.append((time.perf_counter() - started) * 1000)
    return {"write_ms_median": statistics.median(times)}


def cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    """utime+stime per component, from /proc (children of each process included)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for name, plist in pids.items():
        total = 0.0
        for pid in plist:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError):
                pass
        out[name] = total
    return out


# --------------------------------------------------------------------------- floor


def run_floor(broker_url: str, chains: int, scratch: Path) -> list[float]:
    """`chains` bare chains of HOPS hops, one every 50 ms: each chain's ms, first to last hop."""
    import order_flow_bare

    bare = order_flow_bare.build(broker_url)
    hop = bare.tasks["bare.hop"]
    r = redis.Redis.from_url(broker_url)
    r.delete(order_flow_bare.RESULTS)
    env = {
        "BENCH_BROKER_URL": broker_url,
        "PYTHONPATH": os.pathsep.join(
            p for p in [str(BENCH_DIR), os.environ.get("PYTHONPATH", "")] if p
        ),
    }
    try:
        with worker("order_flow_bare", env, scratch / "bare-worker.log"):
            for _ in range(10):  # warm-up: connections, pool children
                hop.delay(-1, HOPS, time.time())
                time.sleep(0.02)
            wait_until(lambda: r.llen(order_flow_bare.RESULTS) >= 10, 30)
            r.delete(order_flow_bare.RESULTS)
            for i in range(chains):
                hop.delay(i, HOPS, time.time())
                time.sleep(0.05)
            wait_until(lambda: r.llen(order_flow_bare.RESULTS) >= chains, 60)
            rows = [x.decode().split() for x in r.lrange(order_flow_bare.RESULTS, 0, -1)]
    finally:
        r.delete(order_flow_bare.RESULTS)
        r.close()
        bare.close()
    samples = [(float(done) - float(started)) * 1000 for _, started, done in rows]
    log(
        f"  floor: {len(samples)} chains of {HOPS} bare hops at ~20/s: "
        f"p50 {statistics.median(samples):.1f} ms, p99 {pct(samples, 0.99):.1f} ms"
    )
    return samples


def floor_summary(before: list[float], after: list[float]) -> dict[str, float]:
    """The floor over both halves: taken just before the order runs and just after them, so a
    machine that speeds up or slows down meanwhile moves the floor as it moves the orders."""
    samples = before + after
    return {
        "chains": len(samples),
        "hops": HOPS,
        "p50_ms": statistics.median(samples),
        "p99_ms": pct(samples, 0.99),
        "p50_before_ms": statistics.median(before),
        "p50_after_ms": statistics.median(after),
    }


def bare_drain_rate() -> float:
    """Bare Celery no-op tasks drained per second, on a Redis database of its own."""
    from event_throughput import run_bare

    with redis_database() as broker, tempfile.TemporaryDirectory(prefix="sb-bare-") as scratch:
        return float(run_bare(BARE_TASKS, broker, Path(scratch))["bare_consume_per_s"])


# --------------------------------------------------------------------------- main


def run(
    n: int,
    rate: float,
    latency_n: int,
    chains: int,
    keep_logs: bool = False,
    capacity_rate: float | None = None,
    phase_locked: bool = False,
) -> dict[str, Any]:
    log(
        f"== order flow: N={n} at {rate}/s then at {capacity_rate}/s, latency run {latency_n} "
        f"at 10/s, floor {chains} chains, {'phase-locked' if phase_locked else 'jittered'} sends "
        f"(load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)"
    )
    result: dict[str, Any] = {}
    with ExitStack() as stack:
        if keep_logs:
            scratch = Path(tempfile.mkdtemp(prefix="sb-orderflow-"))
            log(f"  logs and data kept in {scratch}")
        else:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sb-orderflow-")))
        bare_before = bare_drain_rate()
        try:
            started = time.perf_counter()
            platform = Platform(stack, scratch)
            log(f"  platform up in {time.perf_counter() - started:.1f}s; broker {platform.broker}")
            floor_before = run_floor(platform.broker, chains - chains // 2, scratch)
            supplier = platform.http.post(
                "/api/v1/suppliers",
                json={
                    "name": "Bench Machining",
                    "categories": ["cnc-machining"],
                    "region": "eu-west",
                    "capacity": (2 * n + latency_n + 100) * QUANTITY,
                },
            )
            if supplier.status_code != 201:
                raise RuntimeError(f"supplier: {supplier.status_code} {supplier.text}")
            result["stripe_before"] = stripe_probe(platform)
            log(f"  localstripe write before: {result['stripe_before']}")
            place_orders(platform, 5, 5, "warm-up")
            pids = platform.all_pids()
            cpu0, wall0 = cpu_seconds(pids), time.perf_counter()
            result["throughput"] = place_orders(
                platform, n, rate, f"throughput@{rate:g}/s", phase_locked=phase_locked
            )
            cpu1, wall1 = cpu_seconds(pids), time.perf_counter()
            util = {k: round((cpu1[k] - cpu0[k]) / (wall1 - wall0), 3) for k in cpu0}
            result["cpu_cores_during_throughput"] = util
            log(
                f"  CPU (cores) per component during the throughput run: {util}; "
                f"total {sum(util.values()):.2f} of {os.cpu_count()}"
            )
            result["stripe_after_throughput"] = stripe_probe(platform)
            log(f"  localstripe write after: {result['stripe_after_throughput']}")
            if capacity_rate:
                # Offered above the target, the matched rate is what the platform sustains;
                # at the target rate it can only equal the offered rate.
                result["capacity"] = place_orders(
                    platform,
                    n,
                    capacity_rate,
                    f"capacity@{capacity_rate:g}/s",
                    phase_locked=phase_locked,
                )
            log(f"  settled (every queue empty for 2 s) in {settle(platform):.1f}s")
            result["latency"] = place_orders(
                platform, latency_n, 10, "latency@10/s", phase_locked=phase_locked
            )
            result["emails_received"] = platform.inbox.count
            floor_after = run_floor(platform.broker, chains // 2, scratch)
            result["floor"] = floor_summary(floor_before, floor_after)
            log(
                f"  floor over both halves: p50 {result['floor']['p50_ms']:.1f} ms "
                f"(before {result['floor']['p50_before_ms']:.1f}, "
                f"after {result['floor']['p50_after_ms']:.1f})"
            )
        except BaseException:
            for path in sorted(scratch.glob("*.log")):
                log(f"--- tail of {path.name}:\n{path.read_text(errors='replace')[-1500:]}")
            raise
    bare_after = bare_drain_rate()  # the platform's processes have stopped
    result["bare_drain"] = {
        "tasks": BARE_TASKS,
        "per_s": (bare_before + bare_after) / 2,
        "before_per_s": bare_before,
        "after_per_s": bare_after,
    }
    return result


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds the ExitStack: processes, databases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=150, 50 latency orders")
    parser.add_argument("--n", type=int, help="orders in the throughput run (default 1000)")
    parser.add_argument("--rate", type=float, default=30.0, help="offered orders/s (default 30)")
    parser.add_argument(
        "--capacity-rate",
        type=float,
        default=60.0,
        help="offered orders/s of the capacity run, well above the 30/s target (default 60; "
        "0: none)",
    )
    parser.add_argument("--latency-n", type=int, help="orders at 10/s (default 200, quick 50)")
    parser.add_argument(
        "--chains", type=int, help="bare chains for the floor (default 200, quick 100)"
    )
    parser.add_argument(
        "--phase-locked",
        action="store_true",
        help="send orders at exact multiples of 1/rate instead of jittered within each slot",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the processes' logs and data afterwards"
    )
    args = parser.parse_args(argv)
    n = args.n or (150 if args.quick else 1000)
    latency_n = args.latency_n or (50 if args.quick else 200)
    chains = args.chains or (100 if args.quick else 200)
    signal.signal(signal.SIGTERM, _terminate)
    r = run(n, args.rate, latency_n, chains, args.keep_logs, args.capacity_rate, args.phase_locked)
    tp, lat, floor = r["throughput"], r["latency"], r["floor"]
    sustained = max(tp["matched_per_s"], r.get("capacity", {}).get("matched_per_s", 0.0))
    bare = r["bare_drain"]["per_s"]
    ratios = {
        "matched_per_bare_task": sustained / bare,
        "matched_per_bare_task_over_target": sustained
        / bare
        / (TARGETS["throughput_per_s"] / REFERENCE_BARE_PER_S),
        "p50_over_floor": tp["p50_ms"] / floor["p50_ms"],
        "p50_at_10_over_floor": lat["p50_ms"] / floor["p50_ms"],
        "throughput_over_target": sustained / TARGETS["throughput_per_s"],
        "p99_at_10_over_1s": lat["p99_ms"] / TARGETS["p99_at_10_per_s_ms"],
    }
    met = {
        "throughput_30_per_s": sustained >= TARGETS["throughput_per_s"],
        "throughput_30_per_650_bare": ratios["matched_per_bare_task_over_target"] >= 1.0,
        "p99_at_10_per_s_le_1s": lat["p99_ms"] <= TARGETS["p99_at_10_per_s_ms"],
        # The floor is taken at light load (~20 chains/s): the p50 it is held against is the
        # one at 10 orders/s; the throughput run's p50 is mostly queueing at saturation.
        "p50_at_10_per_s_le_3x_floor": lat["p50_ms"] <= TARGETS["p50_vs_floor"] * floor["p50_ms"],
    }
    log(
        f"  ratios: p50 at 10/s {lat['p50_ms']:.0f} ms = {ratios['p50_at_10_over_floor']:.1f}x "
        f"floor {floor['p50_ms']:.1f} ms (target <= 3x; at 30/s {ratios['p50_over_floor']:.1f}x); "
        f"sustained {sustained:.1f} matched/s = {ratios['throughput_over_target']:.2f} of 30/s; "
        f"p99 at 10/s {lat['p99_ms']:.0f} ms = {ratios['p99_at_10_over_1s']:.2f} of 1 s; "
        f"bare Celery drained {bare:.0f} tasks/s: {sustained:.1f} matched/s is "
        f"{ratios['matched_per_bare_task_over_target']:.2f} of 30 per 650"
    )
    log(f"  targets met: {met}")

    def rounded(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return round(value, 3) if isinstance(value, float) else value

    summary = {
        "bench": "order_flow",
        "n": n,
        "rate": args.rate,
        "latency_n": latency_n,
        "targets": TARGETS,
        "email_rate_limit": EMAIL_RATE_LIMIT,
        "email_rate_limit_burst": EMAIL_RATE_LIMIT_BURST,
        "capacity_rate": args.capacity_rate,
        "schedule": "phase-locked" if args.phase_locked else "jittered",
        "sustained_matched_per_s": round(sustained, 3),
        **rounded(r),
        "ratios": rounded(ratios),
        "targets_met": met,
        "all_targets_met": all(met.values()),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
