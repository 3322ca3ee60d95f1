"""Bulk email: a campaign through the platform against a bare smtplib loop, to one SMTP sink.

    python bench/bulk_email.py [--quick] [--n N] [--small N]

In one run, against the same local aiosmtpd sink (its own process, counting arrivals):
  (a) bare floor: one smtplib connection in this process sends N messages in a loop, each
      rendered from the same Jinja2 template and built with the same stdlib MIME classes;
  (b) platform: one `email.send_bulk` command of N recipients (rate limit off) is sent to a
      real email worker (prefork, -c 2) on a flushed Redis; messages/s from the first to the
      last arrival at the sink, and submit-to-result for the whole campaign;
  (c) memory: the worker's peak RSS (VmHWM of its processes) after a campaign of N and after
      one of --small recipients, each on a fresh worker: it should be flat in N.
Human-readable lines, then one JSON object as the last line. Figures are noisy on a shared
machine: compare the ratio, not the absolute rates.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from celery import Celery  # noqa: E402
from event_throughput import bench_redis, wait_for, worker  # noqa: E402
from switchboard_email.rendering import Templates  # noqa: E402
from switchboard_shared.commands import send_command  # noqa: E402
from switchboard_shared.contracts.email import SendBulkEmail  # noqa: E402
from switchboard_shared.testsupport import free_port  # noqa: E402

TARGETS = {"throughput_ratio": 0.7, "rss_growth_ratio": 1.25}
SENDER = "Switchboard <no-reply@switchboard.local>"
COMMON = {"title": "Autumn news", "message": "Everything is in stock, and shipping is free."}


def log(line: str) -> None:
    print(line, flush=True)


def recipient(i: int) -> tuple[str, dict[str, str]]:
    return f"reader{i}@example.com", {"name": f"Reader {i}"}


# --------------------------------------------------------------------------- the SMTP sink


def run_sink(port: int, stats: Path) -> None:
    """The sink process: accepts everything, writes `count first last` to `stats` as it goes."""
    from aiosmtpd.controller import Controller

    class Counting:
        count, first, last = 0, 0.0, 0.0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            now = time.time()
            self.first = self.first or now
            self.count, self.last = self.count + 1, now
            return "250 OK"

    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            stats.write_text(f"{handler.count} {handler.first} {handler.last}")
            time.sleep(0.1)
    finally:
        controller.stop()


class Sink:
    def __init__(self, scratch: Path) -> None:
        self.port = free_port()
        self.stats = scratch / f"sink-{self.port}.stats"
        self.stats.write_text("0 0 0")
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--sink", str(self.port), str(self.stats)]
        )
        wait_for(self._listening, 90, "the SMTP sink to listen")

    def _listening(self) -> bool:
        try:
            smtplib.SMTP("127.0.0.1", self.port, timeout=1).quit()
            return True
        except OSError:
            return False

    def read(self) -> tuple[int, float, float]:
        count, first, last = self.stats.read_text().split()
        return int(count), float(first), float(last)

    def wait_for(self, total: int, timeout: float) -> tuple[float, float]:
        wait_for(lambda: self.read()[0] >= total, timeout, f"{total} messages at the sink")
        time.sleep(0.25)  # the stats file is written every 0.1 s
        _, first, last = self.read()
        return first, last

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@contextmanager
def sink(scratch: Path) -> Iterator[Sink]:
    running = Sink(scratch)
    try:
        yield running
    finally:
        running.stop()


# --------------------------------------------------------------------------- bare floor


def run_bare(n: int, port: int) -> float:
    """Messages/s of one smtplib connection sending N rendered messages in a loop."""
    template = Templates().named("newsletter")
    client = smtplib.SMTP("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    for i in range(n):
        to, context = recipient(i)
        mail = template.render({**COMMON, **context})
        message = MIMEMultipart("alternative")
        message["From"], message["To"], message["Subject"] = SENDER, to, mail.subject
        message["Message-ID"] = make_msgid(domain="switchboard.local")
        message.attach(MIMEText(mail.text or "", "plain", "utf-8"))
        message.attach(MIMEText(mail.html or "", "html", "utf-8"))
        client.send_message(message)
    elapsed = time.perf_counter() - started
    client.quit()
    return n / elapsed


# --------------------------------------------------------------------------- platform


def campaign(n: int) -> SendBulkEmail:
    recipients = [{"to": to, "context": context} for to, context in map(recipient, range(n))]
    return SendBulkEmail(template="newsletter", common_context=COMMON, recipients=recipients)


def peak_rss_mb(pids: list[int]) -> float:
    peak = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024


def run_platform(n: int, scratch: Path, label: str) -> dict[str, float]:
    """One campaign of N through a fresh worker to a fresh sink; rates and the worker's peak RSS."""
    with bench_redis(None) as broker, sink(scratch) as smtp:
        env = {
            "SWITCHBOARD_BROKER_URL": broker,
            "SWITCHBOARD_DATA_DIR": str(scratch / label),
            "EMAIL_SMTP_PORT": str(smtp.port),
            "EMAIL_RATE_LIMIT": "off",
            "EMAIL_BULK_SLICE_SIZE": "200",
            "EMAIL_BULK_LANES": os.environ.get("EMAIL_BULK_LANES", "2"),
        }
        client = Celery("bench-client", broker=broker, backend=broker, set_as_current=False)
        client.conf.update(task_serializer="json", accept_content=["json"])
        with worker("switchboard_email.app", env, scratch / f"worker-{label}.log") as process:
            started = time.time()
            task_id = send_command(client, campaign(n))
            result = client.AsyncResult(task_id).get(timeout=120 + n / 5)
            finished = time.time()
            pids = [p for p in [process.process.pid if process.process else 0] if p]
            rss = peak_rss_mb(pids + process.children())
        first, last = smtp.wait_for(n, 60)
        client.close()
    if result["counts"] != {"sent": n}:
        raise RuntimeError(f"campaign outcomes {result['counts']}, expected {n} sent")
    return {
        "per_s": (n - 1) / (last - first),
        "e2e_per_s": n / (finished - started),
        "peak_rss_mb": rss,
    }


# --------------------------------------------------------------------------- main


def run(n: int, small: int) -> dict[str, Any]:
    log(
        f"== bulk_email: N={n}, small={small} (load {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs)"
    )
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sb-bench-mail-")))
        with sink(scratch) as smtp:
            bare = run_bare(n, smtp.port)
        log(f"  bare smtplib loop: {n} messages -> {bare:,.0f}/s")
        big = run_platform(n, scratch, "big")
        log(
            f"  platform: {n} -> {big['per_s']:,.0f}/s at the sink, {big['e2e_per_s']:,.0f}/s "
            f"submit-to-result, worker peak RSS {big['peak_rss_mb']:.0f} MB"
        )
        low = run_platform(small, scratch, "small")
        log(f"  platform: {small} -> worker peak RSS {low['peak_rss_mb']:.0f} MB")
    ratio = big["per_s"] / bare
    growth = big["peak_rss_mb"] / low["peak_rss_mb"]
    met = {
        "throughput_ratio": ratio >= TARGETS["throughput_ratio"],
        "rss_growth_ratio": growth <= TARGETS["rss_growth_ratio"],
    }
    log(f"  ratio {ratio:.2f} (target ≥ 0.7); RSS {small}→{n}: ×{growth:.2f}; met: {met}")
    return {
        "bench": "bulk_email",
        "n": n,
        "small_n": small,
        "bare_per_s": round(bare, 1),
        "platform_per_s": round(big["per_s"], 1),
        "platform_e2e_per_s": round(big["e2e_per_s"], 1),
        "throughput_ratio": round(ratio, 3),
        "peak_rss_mb": {
            str(small): round(low["peak_rss_mb"], 1),
            str(n): round(big["peak_rss_mb"], 1),
        },
        "rss_growth_ratio": round(growth, 3),
        "targets": TARGETS,
        "targets_met": all(met.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=1000, small=250")
    parser.add_argument("--n", type=int, help="recipients of the big campaign (default 10000)")
    parser.add_argument("--small", type=int, help="recipients of the small one (default 2000)")
    parser.add_argument("--sink", nargs=2, metavar=("PORT", "STATS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink:
        run_sink(int(args.sink[0]), Path(args.sink[1]))
        return 0
    n = args.n or (1000 if args.quick else 10_000)
    small = args.small or (250 if args.quick else 2000)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(json.dumps(run(n, small)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
