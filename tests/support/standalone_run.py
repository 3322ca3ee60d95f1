"""Running `switchboard-standalone` (what `make run` starts) from tests, leaving nothing behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from switchboard_gateway.standalone.processes import cmdline
from switchboard_shared.testsupport import free_port, wait_until

API_KEY = "test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def launcher_command() -> list[str]:
    script = Path(sys.executable).parent / "switchboard-standalone"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "switchboard_gateway.standalone"]


def launcher_env(data: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SWITCHBOARD_")
        and not key.endswith("_DATABASE_URL")  # every service on its SQLite file in `data`
    }
    env.update(
        SWITCHBOARD_API_KEYS=API_KEY,
        SWITCHBOARD_LOCALSTRIPE_PORT=str(free_port()),
        SWITCHBOARD_SMTP_SINK_PORT=str(free_port()),
        SWITCHBOARD_LOCAL_TWILIO_PORT=str(free_port()),
        SWITCHBOARD_PORT=str(port),
        SWITCHBOARD_DATA_DIR=str(data),
    )
    return env


@dataclass
class Standalone:
    process: subprocess.Popen[bytes]
    data: Path
    port: int
    output: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for_banner(self, timeout: float = 400) -> None:
        def banner() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"launcher exited {self.process.returncode}:\n{self.text()}")
            return "Switchboard is running." in self.text()

        wait_until(banner, timeout=timeout, interval=0.5)

    def kill_launcher_only(self) -> None:
        """SIGKILL the launcher alone: its children and its Redis are left running."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def kill_everything(self) -> None:
        """After a failed test: SIGKILL the launcher and every group its run file lists."""
        if self.process.poll() is not None:
            return
        groups, redis_pid = [self.process.pid], 0
        with contextlib.suppress(OSError, ValueError, KeyError):
            state = json.loads((self.data / "run" / "standalone.json").read_text())
            groups += state["children"].values()
            redis_pid = int(state.get("redis_pid") or 0)
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        if redis_pid and "redis-server" in cmdline(redis_pid):  # it daemonizes out of the group
            os.kill(redis_pid, signal.SIGKILL)
        self.process.wait(10)


@contextlib.contextmanager
def standalone(data: Path, output: Path) -> Iterator[Standalone]:
    port = free_port()
    with output.open("wb") as out:
        process = subprocess.Popen(
            launcher_command(),
            env=launcher_env(data, port),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    run = Standalone(process, data, port, output)
    try:
        yield run
    finally:
        run.kill_everything()
