"""Start-up Redis checks and consumption liveness against real Redis servers."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from switchboard_shared import liveness
from switchboard_shared.redis_checks import UnsafeRedis, redis_client, require_noeviction
from switchboard_shared.testsupport import free_port, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def evicting_redis() -> Iterator[str]:
    """A real redis-server of our own that evicts keys under memory pressure."""
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "allkeys-lru",
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_until(up, timeout=10)
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_local_redis_with_noeviction_passes(redis_url: str) -> None:
    assert (
        redis_client(redis_url).config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    )
    require_noeviction(redis_url)


def test_a_redis_that_evicts_is_refused_with_the_reason(evicting_redis: str) -> None:
    with pytest.raises(UnsafeRedis) as info:
        require_noeviction(evicting_redis)
    message = str(info.value)
    assert "allkeys-lru" in message
    assert "noeviction" in message
    assert "127.0.0.1" in message


# --- liveness ------------------------------------------------------------------------


@pytest.fixture
def svc() -> str:
    """A service name of this test alone: real workers of other runs may share the Redis db."""
    return f"kit{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis_client(redis_url)
    yield c
    c.close()


def test_a_consumed_queue_is_healthy_and_an_unconsumed_one_is_not(
    client: redis.Redis, svc: str
) -> None:
    liveness.stamp(client, svc, f"{svc}.critical", "w-1@host")
    states = liveness.read(client, svc, [f"{svc}.critical", f"{svc}.normal"], max_age=60)

    critical, normal = states
    assert critical.queue == f"{svc}.critical"
    assert critical.healthy
    assert critical.age_seconds is not None and 0 <= critical.age_seconds < 5
    assert normal.queue == f"{svc}.normal"
    assert not normal.healthy
    assert normal.last_consumed is None and normal.age_seconds is None


def test_a_queue_last_consumed_long_ago_is_stale(client: redis.Redis, svc: str) -> None:
    liveness.stamp(client, svc, f"{svc}.critical", "w-1@host")
    # the worker stamped this queue ten minutes ago, then silently stopped consuming it
    client.hset(liveness.KEY.format(service=svc), f"queue:{svc}.normal", time.time() - 600)

    critical, normal = liveness.read(client, svc, [f"{svc}.critical", f"{svc}.normal"], 60)

    assert critical.healthy
    assert not normal.healthy
    assert normal.age_seconds is not None and 590 < normal.age_seconds < 620


def test_liveness_is_kept_per_service(client: redis.Redis, svc: str) -> None:
    liveness.stamp(client, svc, f"{svc}.critical", "w")
    [state] = liveness.read(client, f"{svc}-other", [f"{svc}.critical"], 60)
    assert not state.healthy


def test_workers_lists_each_consuming_worker_with_its_last_stamp(
    client: redis.Redis, svc: str
) -> None:
    before = time.time()
    liveness.stamp(client, svc, f"{svc}.urgent", "w-a@host")
    liveness.stamp(client, svc, f"{svc}.bulk", "w-b@host")
    found = liveness.workers(client, svc)
    assert set(found) == {"w-a@host", "w-b@host"}
    assert all(before <= stamp <= time.time() for stamp in found.values())


def test_liveness_key_expires_eventually(client: redis.Redis, svc: str) -> None:
    liveness.stamp(client, svc, f"{svc}.urgent", "w")
    ttl = client.ttl(liveness.KEY.format(service=svc))
    assert 0 < ttl <= 7 * 24 * 3600


def run_cli(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "switchboard_shared.liveness", *args, "--redis", redis_url],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_exits_0_when_every_queue_is_consumed(
    client: redis.Redis, redis_url: str, svc: str
) -> None:
    liveness.stamp(client, svc, f"{svc}.critical", "w")
    liveness.stamp(client, svc, f"{svc}.normal", "w")
    result = run_cli(redis_url, svc, f"{svc}.critical", f"{svc}.normal")
    assert result.returncode == 0, result.stderr
    assert f"{svc}.critical: ok" in result.stdout
    assert f"{svc}.normal: ok" in result.stdout


def test_cli_exits_1_and_names_the_stale_queue(
    client: redis.Redis, redis_url: str, svc: str
) -> None:
    liveness.stamp(client, svc, f"{svc}.critical", "w")
    client.hset(liveness.KEY.format(service=svc), f"queue:{svc}.normal", time.time() - 600)
    result = run_cli(redis_url, svc, f"{svc}.critical", f"{svc}.normal", "--max-age", "60")
    assert result.returncode == 1
    assert f"{svc}.critical: ok" in result.stdout
    assert f"{svc}.normal: STALE" in result.stdout


def test_cli_exits_1_for_a_queue_never_consumed(redis_url: str, svc: str) -> None:
    result = run_cli(redis_url, svc, f"{svc}.batch")
    assert result.returncode == 1
    assert f"{svc}.batch: STALE (last consumed never)" in result.stdout
