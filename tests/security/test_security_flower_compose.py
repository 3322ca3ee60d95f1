"""Issue 17, item 13: the deployed Flowers were stock Flower, installed outside the lock.

The attack: compose ran `celery -A <app> flower` from an image that pip-installed Flower
outside uv.lock. That bypassed the kit's launcher, so `/metrics` answered anyone (Flower
serves it even with basic auth on) and nothing refused to start without credentials.

After: compose and k8s run the kit's launcher (`python -m switchboard_shared.flower`) from
the service's own image, built from the lock; FLOWER_BASIC_AUTH is required. Each Flower
command of the compose file is run here natively, as test_compose_native runs the others,
against a real Redis broker and the service's real worker app.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from switchboard_shared.testsupport import (
    free_port,
    provider_secrets,
    redis_database,
    terminate,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
DEPLOYABLES = ("email", "payments", "orders", "reports", "integrations", "gateway")
CREDENTIALS = ("ops", "a-long-flower-password")


def stack() -> dict[str, Any]:
    return dict(yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())["services"])


def native(command: list[str], port: int) -> list[str]:
    """The container command on this machine: the venv's interpreter, a free port."""
    head, *rest = [word.replace("5555", str(port)) for word in command]
    return [sys.executable, *rest] if head == "python" else [sys.executable, "-m", head, *rest]


@contextmanager
def flower_process(service: str, tmp_path: Path, auth: bool) -> Iterator[tuple[Any, str]]:
    port = free_port()
    with redis_database() as broker:
        env = {k: v for k, v in os.environ.items() if "FLOWER" not in k}
        env |= {**provider_secrets(), "SWITCHBOARD_BROKER_URL": broker}
        env |= {"SWITCHBOARD_DATA_DIR": str(tmp_path)}
        if auth:
            env["FLOWER_BASIC_AUTH"] = ":".join(CREDENTIALS)
        command = native(stack()[f"{service}-flower"]["command"], port)
        log = tmp_path / "flower.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process, f"http://127.0.0.1:{port}"
        finally:
            if process.poll() is None:
                terminate(process)


def _up(url: str, process: Any) -> bool:
    if process.poll() is not None:
        return True
    try:
        return httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.timeout(300)
@pytest.mark.parametrize("service", ["payments", pytest.param("gateway", marks=pytest.mark.slow)])
def test_the_compose_flower_keeps_metrics_and_pages_behind_credentials(
    service: str, tmp_path: Path
) -> None:
    with flower_process(service, tmp_path, auth=True) as (process, url):
        wait_until(lambda: _up(url, process), 120, 0.3)
        assert process.poll() is None, (tmp_path / "flower.log").read_text()[-2000:]
        anonymous = {path: httpx.get(url + path, timeout=30) for path in ("/metrics", "/")}
        authed = httpx.get(url + "/metrics", auth=CREDENTIALS, timeout=30)

    assert {p: r.status_code for p, r in anonymous.items()} == {"/metrics": 401, "/": 401}
    assert authed.status_code == 200


@pytest.mark.timeout(300)
def test_the_compose_flower_refuses_to_start_without_credentials(tmp_path: Path) -> None:
    with flower_process("payments", tmp_path, auth=False) as (process, url):
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            up = _up(url, process)
            pytest.fail(f"it runs without credentials (answering: {up})")

    assert process.returncode == 2
    assert "FLOWER_BASIC_AUTH" in (tmp_path / "flower.log").read_text()


@pytest.mark.parametrize("deployable", DEPLOYABLES)
def test_every_flower_is_the_kits_from_the_services_own_image(deployable: str) -> None:
    flower = stack()[f"{deployable}-flower"]
    worker = stack()[f"{deployable}-worker"]

    assert flower["command"][:4] == ["python", "-m", "switchboard_shared.flower", deployable]
    assert flower["image"] == worker["image"] and flower["build"] == worker["build"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    per_service = yaml.safe_load((COMPOSE / f"{deployable}.yml").read_text())["services"]
    assert per_service[f"{deployable}-flower"]["command"] == flower["command"]


def k8s_flower(deployable: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((COMPOSE / "k8s" / f"{deployable}.yaml").read_text())
    names = {d["metadata"]["name"]: d for d in docs if d and d["kind"] == "Deployment"}
    assert f"{deployable}-flower" in names, f"k8s runs no Flower for {deployable}"
    [container] = names[f"{deployable}-flower"]["spec"]["template"]["spec"]["containers"]
    return dict(container)


@pytest.mark.parametrize("deployable", DEPLOYABLES)
def test_k8s_runs_the_kits_flower_with_required_credentials(deployable: str) -> None:
    container = k8s_flower(deployable)

    assert container["command"] == stack()[f"{deployable}-flower"]["command"]
    assert container["image"] == f"switchboard/{deployable}:latest"
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert refs["FLOWER_BASIC_AUTH"]["optional"] is False


def test_flower_comes_from_the_lock_and_no_image_installs_outside_it() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    [kit] = [p for p in lock["package"] if p["name"] == "switchboard-shared"]
    assert "flower" in {d["name"] for d in kit["dependencies"]}, "every service image has it"
    dockerfiles = [ROOT / "gateway" / "Dockerfile", *(ROOT / "services").glob("*/Dockerfile")]
    dockerfiles += list(COMPOSE.rglob("Dockerfile"))
    for dockerfile in dockerfiles:
        text = dockerfile.read_text()
        assert not re.search(r"pip install|uv pip", text), dockerfile
        assert "uv sync --frozen" in text, dockerfile
