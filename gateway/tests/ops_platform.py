"""A live platform for the ops-plane tests: a broker, a real orders worker, the ledger
consumer and the gateway app (in process, with the real Celery sender and control)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from gateway_fakes import WEBHOOK_SECRETS
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.main import create_app
from switchboard_shared.testsupport import WorkerProcess, rabbit_vhost, redis_database, wait_until

ADMIN = "ops-admin-key"
READER = "ops-reader-key"
SERVICES = {"orders": ["orders.critical", "orders.normal", "orders.events"]}


@dataclass
class LivePlatform:
    client: TestClient
    settings: GatewaySettings
    worker: WorkerProcess
    ledger: subprocess.Popen[bytes]
    ledger_log: Path
    env: dict[str, str]

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params, headers=auth(ADMIN))
        assert response.status_code == 200, response.text
        return response.json()

    def submit(self, name: str, **args: Any) -> str:
        response = self.client.post(
            "/api/v1/tasks", json={"name": name, "args": args}, headers=auth(ADMIN)
        )
        assert response.status_code == 202, response.text
        return str(response.json()["task_id"])

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/tasks/{task_id}", headers=auth(ADMIN))
        return response.json() if response.status_code == 200 else {"state": None}

    def wait_state(self, task_id: str, *states: str, timeout: float = 40) -> dict[str, Any]:
        wait_until(lambda: self.task(task_id)["state"] in states, timeout, 0.2)
        return self.task(task_id)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def broker_urls(kind: str) -> Iterator[tuple[str, str]]:
    with redis_database() as redis_url:
        if kind == "redis":
            yield redis_url, redis_url
        else:
            with rabbit_vhost() as amqp_url:
                yield amqp_url, redis_url


def start_ledger(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "switchboard_gateway.ledger.consumer"],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextmanager
def live_platform(kind: str, data: Path, **overrides: Any) -> Iterator[LivePlatform]:
    with broker_urls(kind) as (broker, redis_url), ExitStack() as stack:
        env = {
            "SWITCHBOARD_BROKER_URL": broker,
            "SWITCHBOARD_REDIS_URL": redis_url,
            "SWITCHBOARD_DATA_DIR": str(data),
            "SWITCHBOARD_SERVICES": json.dumps(SERVICES),
            "SWITCHBOARD_RETRY_BASE_SECONDS": "0.2",
            "SWITCHBOARD_LOG_JSON": "false",
            "SWITCHBOARD_LEDGER_RECONCILE_SECONDS": "2",
        }
        ledger_log = data / "ledger.log"
        ledger = start_ledger(env, ledger_log)  # starts while the worker does
        stack.callback(lambda: stop(platform.ledger))  # the one running then (tests restart it)
        worker = WorkerProcess("switchboard_orders.app", env, data / "orders.log", concurrency=2)
        stack.callback(worker.stop)
        worker.start(90)
        wait_until(lambda: "ledger following" in ledger_log.read_text(errors="replace"), 30)
        settings = GatewaySettings(
            api_keys="",
            admin_api_keys=ADMIN,
            readonly_api_keys=READER,
            broker_url=broker,
            redis_url=redis_url,
            data_dir=data,
            services=SERVICES,
            **{**WEBHOOK_SECRETS, **overrides},
        )
        client = stack.enter_context(TestClient(create_app(settings)))
        client.app.state.ledger.get()  # type: ignore[attr-defined]  (opens and migrates the DB)
        platform = LivePlatform(client, settings, worker, ledger, ledger_log, env)
        yield platform
