"""Webhook fan-out: events x endpoints delivered, signed, to a local receiver, against a floor.

    python bench/webhook_fanout.py [--quick] [--events N] [--endpoints E] [--concurrency C]

Starts a real integrations worker (-c 2 by default) on a flushed Redis logical database
(SWITCHBOARD_TEST_REDIS_URL) with SQLite, and a local HTTP receiver (uvicorn, in this
process) on a random port, which the worker is told to allow (the SSRF guard delivers to 80,
443 and INTEGRATIONS_WEBHOOK_ALLOWED_PORTS only). Registers E endpoints (default 5) for
`order-matched` straight with the worker, publishes N events (default 1,000; quick 100) on
the bus in one burst, and waits until every delivery arrived:
  platform: deliveries/s = N*E / (first publish -> last arrival); delay = arrival - the
            event's time (p50, p99);
  floor:    the same N*E signed-size POSTs as bare httpx calls from one process, one
            keep-alive connection, to the same receiver (per second; p99 of one POST).
Human-readable lines, then one JSON object as the last line. Figures are noisy on a shared
machine: compare the ratio, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from switchboard_gateway.sender import make_celery_client
from switchboard_shared.commands import send_command
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.integrations import RegisterWebhookEndpoint
from switchboard_shared.contracts.orders import OrderMatched
from switchboard_shared.envelopes import wrap
from switchboard_shared.publisher import CeleryEventPublisher
from switchboard_shared.testsupport import (
    WorkerProcess,
    free_port,
    provider_secrets,
    redis_database,
    wait_until,
)

SECRET = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


def log(line: str) -> None:
    print(line, flush=True)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


class Arrivals:
    """A minimal ASGI receiver: notes when each delivery arrived and the event's time."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None]] = []
        self.lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        sent_at = None
        if body.startswith(b"{"):
            stamp = json.loads(body).get("timestamp")
            sent_at = datetime.fromisoformat(stamp).timestamp() if stamp else None
        with self.lock:
            self.seen.append((time.time(), sent_at))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def start_receiver(arrivals: Arrivals) -> tuple[uvicorn.Server, str]:
    port = free_port()
    config = uvicorn.Config(arrivals, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    wait_until(lambda: server.started, 30)
    return server, f"http://127.0.0.1:{port}"


def bare_floor(url: str, total: int) -> dict[str, float]:
    body = json.dumps({"type": "order-matched", "data": {"order_id": "ord_x" * 8}}).encode()
    latencies = []
    with httpx.Client() as client:
        started = time.perf_counter()
        for n in range(total):
            before = time.perf_counter()
            client.post(f"{url}/bare", content=body, headers={"webhook-id": f"msg_{n}"})
            latencies.append((time.perf_counter() - before) * 1000)
        elapsed = time.perf_counter() - started
    return {"per_s": total / elapsed, "p99_ms": pct(latencies, 0.99)}


def register_endpoints(client: Any, url: str, count: int) -> None:
    for n in range(count):
        command = RegisterWebhookEndpoint(
            endpoint_id=f"ep_bench{n:08d}",
            url=f"{url}/endpoint-{n}",
            events=["order-matched"],
            secret=SECRET,
        )
        task_id = send_command(client, command, correlation_id="bench")
        client.AsyncResult(task_id).get(timeout=120)


def publish_events(broker: str, count: int) -> float:
    publisher = CeleryEventPublisher(make_celery_client(broker))
    envelopes = []
    for n in range(count):
        event = OrderMatched(
            order_id=f"ord_bench_{n}",
            supplier_id="sup_1",
            customer_email="bench@example.com",
            amount=2599,
            currency="usd",
        )
        context = MessageContext.new(event.order_id)
        envelopes.append(wrap(event, service="orders", context=context).model_dump(mode="json"))
    started = time.time()
    for at in range(0, count, 100):
        publisher.publish(envelopes[at : at + 100])
    return started


def platform_run(args: argparse.Namespace, arrivals: Arrivals, url: str) -> dict[str, float]:
    total = args.events * args.endpoints
    with redis_database() as broker, tempfile.TemporaryDirectory() as data:
        env = {
            "SWITCHBOARD_BROKER_URL": broker,
            "SWITCHBOARD_DATA_DIR": data,
            "SWITCHBOARD_ALLOW_PRIVATE_WEBHOOKS": "1",
            "INTEGRATIONS_WEBHOOK_ALLOWED_PORTS": str(httpx.URL(url).port),
            **provider_secrets(),  # integrations refuses to start without TWILIO_AUTH_TOKEN
        }
        worker = WorkerProcess(
            "switchboard_integrations.app",
            env,
            Path(data) / "worker.log",
            concurrency=args.concurrency,
        )
        worker.start(timeout=180)
        try:
            client = make_celery_client(broker, broker)
            register_endpoints(client, url, args.endpoints)
            started = publish_events(broker, args.events)
            log(f"published {args.events} events for {args.endpoints} endpoints")
            wait_until(lambda: len(arrivals.seen) >= total, args.timeout, 0.2)
        finally:
            worker.stop()
    delays = [(at - sent) * 1000 for at, sent in arrivals.seen if sent is not None]
    last = max(at for at, _ in arrivals.seen)
    return {
        "per_s": total / (last - started),
        "p50_ms": pct(delays, 0.5),
        "p99_ms": pct(delays, 0.99),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="100 events (under a minute on a quiet machine)"
    )
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    args.events = args.events or (100 if args.quick else 1000)
    total = args.events * args.endpoints

    arrivals = Arrivals()
    server, url = start_receiver(arrivals)
    try:
        floor = bare_floor(url, total)
        log(f"floor: {total} bare POSTs at {floor['per_s']:.0f}/s, p99 {floor['p99_ms']:.1f} ms")
        arrivals.seen.clear()
        platform = platform_run(args, arrivals, url)
        log(
            f"platform: {total} signed deliveries at {platform['per_s']:.0f}/s, "
            f"delay p50 {platform['p50_ms']:.0f} ms, p99 {platform['p99_ms']:.0f} ms"
        )
    finally:
        server.should_exit = True
    result = {
        "events": args.events,
        "endpoints": args.endpoints,
        "deliveries": total,
        "worker_concurrency": args.concurrency,
        "platform_deliveries_per_s": round(platform["per_s"], 1),
        "platform_delay_p50_ms": round(platform["p50_ms"], 1),
        "platform_delay_p99_ms": round(platform["p99_ms"], 1),
        "bare_posts_per_s": round(floor["per_s"], 1),
        "bare_post_p99_ms": round(floor["p99_ms"], 2),
        "throughput_vs_bare": round(platform["per_s"] / floor["per_s"], 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
