"""Child processes of the launcher: each in its own process group, logging to a file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_SECONDS = 10.0


def pid_alive(pid: int) -> bool:
    """Alive and not a zombie (a zombie has exited; only its parent's reap is pending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def group_members(pgid: int) -> list[int]:
    """Every live process in process group `pgid` (read from /proc; empty where there is none)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return [pgid] if pid_alive(pgid) else []
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _signal_groups(pgids: list[int], sig: int) -> None:
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def _wait_groups_gone(pgids: list[int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(group_members(g) for g in pgids):
        time.sleep(0.1)


def stop_groups(pgids: list[int], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM each group, wait up to `grace` seconds for all, then SIGKILL what is left."""
    _signal_groups(pgids, signal.SIGTERM)
    _wait_groups_gone(pgids, grace)
    _signal_groups([g for g in pgids if group_members(g)], signal.SIGKILL)
    _wait_groups_gone(pgids, 5)


def is_ours(pid: int) -> bool:
    """A process one of our launchers started (checked before stopping what a run file lists)."""
    line = cmdline(pid)
    return any(mark in line for mark in ("switchboard", "localstripe", "aiosmtpd"))


@dataclass
class Child:
    name: str
    command: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log_offset: int = 0

    def start(self, env: dict[str, str]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603  (our own argv, no shell)
                self.command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C reaches only us
            )

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.process.pid

    def wait(self, timeout: float) -> None:
        if self.process is not None:
            self.process.wait(timeout)

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def new_output(self) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 12) -> str:
        return "\n".join(self.new_output().splitlines()[-lines:])


class ChildDied(RuntimeError):
    def __init__(self, child: Child, code: int) -> None:
        super().__init__(f"{child.name} exited unexpectedly with code {code}")
        self.child = child
        self.code = code


class LaunchError(RuntimeError):
    """Start-up could not complete; the message says what to do."""
