"""Running `switchboard` in tests: in process (fast) or as the installed command (real TTY
rendering), against a gateway started under uvicorn with a real worker and the ledger."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from ops_platform import start_ledger
from switchboard_gateway.cli import render
from switchboard_gateway.cli.main import main
from switchboard_gateway.cli.state import State
from switchboard_shared.testsupport import (
    WorkerProcess,
    free_port,
    provider_secrets,
    redis_database,
    terminate,
    wait_until,
)

ADMIN = "cli-admin-key"
READER = "cli-reader-key"
ORDERS_QUEUES = ["orders.critical", "orders.normal", "orders.events"]
SWITCHBOARD = str(Path(sys.executable).parent / "switchboard")


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@dataclass
class LiveGateway:
    url: str
    env: dict[str, str]
    worker: WorkerProcess
    redis_url: str

    def run(self, *args: str, key: str | None = ADMIN, stdin: str = "") -> Run:
        """`switchboard --url … --api-key … ARGS` in this process."""
        prefix = ["--url", self.url] + (["--api-key", key] if key else [])
        return run_cli([*prefix, *args], stdin)

    def command(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """The installed `switchboard` command in a subprocess."""
        full_env = {**os.environ, "SWITCHBOARD_URL": self.url, "SWITCHBOARD_API_KEY": ADMIN, **env}
        return subprocess.run(
            [SWITCHBOARD, *args], env=full_env, capture_output=True, text=True, timeout=120
        )

    def task(self, task_id: str) -> dict[str, Any]:
        answer = httpx.get(
            f"{self.url}/api/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {ADMIN}"}
        )
        return answer.json() if answer.status_code == 200 else {"state": None}


def run_cli(args: list[str], stdin: str = "", state: State | None = None) -> Run:
    out, err = io.StringIO(), io.StringIO()
    old_width = render.console.width
    render.console.width = 200  # wide tables: no truncated ids in assertions
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            _stdin(stdin),
        ):
            code = main(args, state)
    finally:
        render.console.width = old_width
    return Run(int(code), out.getvalue(), err.getvalue())


@contextmanager
def _stdin(text: str) -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved


def _healthy(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "gateway exited"
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def start_gateway(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "switchboard_gateway.main:app", "--port", str(port)],
        env={**os.environ, **provider_secrets(), **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@contextmanager
def live_gateway(data: Path) -> Iterator[LiveGateway]:
    with redis_database() as broker, ExitStack() as stack:
        env = {
            "SWITCHBOARD_BROKER_URL": broker,
            "SWITCHBOARD_DATA_DIR": str(data),
            "SWITCHBOARD_SERVICES": json.dumps({"orders": ORDERS_QUEUES}),
            "SWITCHBOARD_ADMIN_API_KEYS": ADMIN,
            "SWITCHBOARD_READONLY_API_KEYS": READER,
            "SWITCHBOARD_API_KEYS": "",
            "SWITCHBOARD_RETRY_BASE_SECONDS": "0.2",
            "SWITCHBOARD_LOG_JSON": "false",
            "SWITCHBOARD_LIVENESS_PROBE_SECONDS": "2",
        }
        # Embedded beat: liveness probes make the platform ready. orders.critical is left
        # unconsumed so that `purge` has messages to drop.
        consume = ["-B", "-s", str(data / "beat"), "-Q", f"{ORDERS_QUEUES[1]},{ORDERS_QUEUES[2]}"]
        worker = WorkerProcess(
            "switchboard_orders.app", env, data / "orders.log", concurrency=2, extra_args=consume
        )
        stack.callback(worker.stop)
        worker.start(120)
        ledger = start_ledger(env, data / "ledger.log")
        stack.callback(terminate, ledger)
        port = free_port()
        gateway = start_gateway(env, port, data / "gateway.log")
        stack.callback(terminate, gateway)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _healthy(url, gateway), timeout=60, interval=0.2)
        ledger_log = data / "ledger.log"
        wait_until(lambda: "ledger following" in ledger_log.read_text(errors="replace"), 60)
        warm_up = httpx.get(
            f"{url}/api/v1/tasks", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60
        )
        assert warm_up.status_code == 200, warm_up.text  # the ledger database is opened lazily
        yield LiveGateway(url, env, worker, broker)
