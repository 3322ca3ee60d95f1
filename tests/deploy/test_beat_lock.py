"""Two real beat processes of one service: only the lock holder sends each periodic task, once
per interval; when the holder is killed, the other takes over from the last recorded run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from switchboard_shared.testsupport import redis_database, wait_until

pytestmark = pytest.mark.integration

SUPPORT = Path(__file__).parents[1] / "support"
INTERVAL = 2.0
LOCK_SECONDS = 4
SENT = "Sending due task beatprobe.tick"
ACQUIRED = "beat: Acquired lock"


class Beat:
    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "beat_probe", "beat", "-l", "INFO"],
                env=env,
                cwd=SUPPORT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sent(self) -> int:
        return self.log().count(SENT)

    def leads(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited:\n{self.log()[-3000:]}")
        return ACQUIRED in self.log()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        self.process.wait(15)


@pytest.fixture
def beat_env() -> Iterator[dict[str, str]]:
    with redis_database() as url:
        yield {
            **os.environ,
            "PYTHONPATH": str(SUPPORT),
            "SWITCHBOARD_BROKER_URL": url,
            "SWITCHBOARD_REDIS_URL": url,
            "SWITCHBOARD_BEAT_LOCK_SECONDS": str(LOCK_SECONDS),
            "SWITCHBOARD_BEAT_LOOP_SECONDS": "0.5",
            "SWITCHBOARD_OUTBOX_SWEEP_SECONDS": "3600",
            "SWITCHBOARD_LIVENESS_PROBE_SECONDS": "3600",
            "SWITCHBOARD_LOG_JSON": "false",
            "BEAT_PROBE_INTERVAL": str(INTERVAL),
        }


def queued_ticks(url: str) -> int:
    client = redis.Redis.from_url(url)
    messages = client.lrange("beatprobe.normal", 0, -1)
    return sum(json.loads(m)["headers"]["task"] == "beatprobe.tick" for m in messages)


@pytest.mark.slow  # a beat killed and a lock left to expire: a long fault run
def test_two_beats_send_each_tick_once_and_the_survivor_takes_over(
    beat_env: dict[str, str], tmp_path: Path
) -> None:
    first = Beat("first", beat_env, tmp_path / "first.log")
    beats = [first]
    try:
        wait_until(first.leads, timeout=60, interval=0.2)
        second = Beat("second", beat_env, tmp_path / "second.log")
        beats.append(second)
        wait_until(lambda: "beat: Starting" in second.log(), timeout=60, interval=0.2)
        started, base = time.monotonic(), first.sent()
        wait_until(lambda: first.sent() >= base + 3, timeout=60, interval=0.2)
        both_ran = time.monotonic() - started

        assert not second.leads() and second.sent() == 0, second.log()[-2000:]
        url = beat_env["SWITCHBOARD_BROKER_URL"]
        assert queued_ticks(url) == first.sent()
        # one beat sending while both run: one tick per interval, not two
        assert first.sent() - base <= both_ran / INTERVAL + 1

        first.stop(signal.SIGKILL)  # no clean release: the lock has to expire
        killed = time.monotonic()
        before = first.sent()
        wait_until(second.leads, timeout=LOCK_SECONDS * 10, interval=0.2)
        wait_until(lambda: second.sent() >= 3, timeout=60, interval=0.2)
        assert queued_ticks(url) == before + second.sent()
        assert second.sent() <= (time.monotonic() - killed) / INTERVAL + 1
    finally:
        for beat in beats:
            beat.stop()
