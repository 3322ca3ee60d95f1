"""Each deployable's compose processes, run natively against the local RabbitMQ, PostgreSQL and
Redis with the environment the compose file gives them: the migration job exits 0 (as the
per-service role `init-databases.sh` creates), then the worker(s), the beat, Flower and the
gateway API start in parallel, and each one's declared health check passes."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import pytest
from compose_support import COMPOSE, STACK, env_example, interpolate, load, native
from switchboard_shared.testsupport import (
    PG_ADMIN_URL,
    free_port,
    provider_secrets,
    rabbit_vhost,
    redis_database,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

# payments runs every kind of process a service declares (migration job, worker, .critical
# worker, beat, Flower); the gateway (its API) and the other four run in `make test-slow`.
DEPLOYABLES = [
    "payments",
    *(
        pytest.param(d, marks=pytest.mark.slow)
        for d in ("gateway", "email", "orders", "reports", "integrations")
    ),
]
CONTAINER_PORTS = ("5555", "8000")


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    healthcheck: list[str]
    port: int
    last_check: str = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(
                f"{self.name} exited {self.process.returncode}:\n{self.output()[-3000:]}"
            )
        return True


@contextlib.contextmanager
def service_database(service: str) -> Iterator[str]:
    """The service's own role and database, made by the stack's init script."""
    prefix = f"sbt{uuid.uuid4().hex[:8]}_"
    password = uuid.uuid4().hex
    host = PG_ADMIN_URL.split("@")[1].split("/")[0]
    env = {
        **os.environ,
        "PGHOST": host.split(":")[0],
        "PGPORT": host.split(":")[1] if ":" in host else "5432",
        "POSTGRES_USER": PG_ADMIN_URL.split("//")[1].split("@")[0].split(":")[0],
        "SWITCHBOARD_DATABASES": service,
        "SWITCHBOARD_DATABASE_PREFIX": prefix,
        f"{service.upper()}_DB_PASSWORD": password,
    }
    script = COMPOSE / "postgres" / "init-databases.sh"
    subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True, timeout=60)
    name = f"{prefix}{service}"
    try:
        yield f"postgresql://{name}:{password}@{host}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


@cache
def operator_env() -> dict[str, str]:
    """`.env.example` as an operator fills it: each required value it leaves empty (the
    secrets) set, as the comment above it says, to a value of this run's own."""
    made = provider_secrets()
    required = set(re.findall(r"\$\{(\w+):\?", STACK.read_text()))
    variables = env_example(".env.example")
    for name in required & {n for n, v in variables.items() if not v}:
        variables[name] = made.get(name) or secrets.token_urlsafe(16)
    variables["FLOWER_BASIC_AUTH"] = f"ops:{secrets.token_urlsafe(16)}"
    return variables


def environment(spec: dict[str, Any], urls: dict[str, str]) -> dict[str, str]:
    variables = operator_env()
    env = {k: interpolate(str(v), variables) for k, v in spec.get("environment", {}).items()}
    env.update(urls)
    env.pop("FLOWER_BROKER_API", None)  # the management API is not enabled on this machine
    return {
        **os.environ,
        **env,
        "SWITCHBOARD_LOG_JSON": "false",
        "SWITCHBOARD_LIVENESS_PROBE_SECONDS": "3",
    }


def localised(words: list[str], port: int) -> list[str]:
    """Container ports (Flower 5555, API 8000) become a free local port."""
    # Each word between NULs, the first and last too; "$$" is compose's escape for "$".
    text = "\x00" + "\x00".join(words).replace("$$", "$") + "\x00"
    for container_port in CONTAINER_PORTS:
        text = text.replace(f"={container_port}", f"={port}").replace(
            f":{container_port}/", f":{port}/"
        )
        text = text.replace(f"\x00{container_port}\x00", f"\x00{port}\x00")
    return text[1:-1].split("\x00")


def start(name: str, spec: dict[str, Any], env: dict[str, str], logs: Path) -> Started:
    port = free_port()
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            native(localised(spec["command"], port)),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    check = localised(spec["healthcheck"]["test"], port)
    return Started(name, process, log, check, port)


def run_healthcheck(started: Started, env: dict[str, str]) -> bool:
    kind, *rest = started.healthcheck
    command = ["sh", "-c", rest[0]] if kind == "CMD-SHELL" else native(rest)
    if kind == "CMD-SHELL":
        command[2] = command[2].replace("python ", f"{native(['python'])[0]} ", 1)
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    started.last_check = f"{command}: exit {run.returncode}\n{run.stdout}{run.stderr}"
    return run.returncode == 0


def stop(started: list[Started]) -> None:
    for one in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(one.process.pid, 15)
    for one in started:
        try:
            one.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(one.process.pid, 9)
            one.process.wait(5)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("deployable", DEPLOYABLES)
def test_every_declared_process_starts_and_is_healthy(deployable: str, tmp_path: Path) -> None:
    specs = {
        n: s
        for n, s in load(STACK)["services"].items()
        if n == deployable or n.startswith(f"{deployable}-")
    }
    began = time.monotonic()
    with (
        rabbit_vhost() as broker,
        redis_database() as redis_url,
        service_database(deployable) as db,
    ):
        urls = {
            "SWITCHBOARD_BROKER_URL": broker,
            "SWITCHBOARD_REDIS_URL": redis_url,
            f"{deployable.upper()}_DATABASE_URL": db,
        }
        migrate = specs.pop(f"{deployable}-migrate")
        run = subprocess.run(
            native(migrate["command"]),
            env=environment(migrate, urls),
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        print(f"{deployable}: migrated after {time.monotonic() - began:.0f}s")
        envs = {name: environment(spec, urls) for name, spec in specs.items()}
        started = [start(name, spec, envs[name], tmp_path) for name, spec in specs.items()]
        try:
            for one in started:
                try:
                    wait_until(
                        lambda one=one: one.alive() and run_healthcheck(one, envs[one.name]),
                        timeout=240,
                        interval=2,
                    )
                    print(f"{one.name}: healthy after {time.monotonic() - began:.0f}s")
                except TimeoutError:
                    raise AssertionError(
                        f"{one.name} never healthy: {one.last_check}\n{one.output()[-3000:]}"
                    ) from None
        finally:
            stop(started)
