"""Start-up steps around the children: API key, free port, migrations, readiness, webhooks."""

from __future__ import annotations

import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from switchboard_gateway.standalone.processes import Child, LaunchError
from switchboard_gateway.standalone.say import say

KEY_FILE = "api-key"
MIGRATED = ("orders", "payments", "email", "reports", "integrations", "gateway")
READY_TIMEOUT_SECONDS = 300.0  # generous: a loaded laptop imports slowly
MIGRATE_TIMEOUT_SECONDS = 300.0
WORKER_READY = re.compile(r"@\S+ ready\.")  # celery's "orders@host ready." once consuming


def api_key(env: dict[str, str], data_dir: Path) -> str:
    """The first configured key, else one generated once and kept in `<data dir>/api-key`."""
    keys = [k.strip() for k in env.get("SWITCHBOARD_API_KEYS", "").split(",") if k.strip()]
    if keys:
        return keys[0]
    key_file = data_dir / KEY_FILE
    key = key_file.read_text().strip() if key_file.exists() else ""
    if not key:
        key = secrets.token_urlsafe(24)
        key_file.touch(mode=0o600)
        key_file.write_text(key + "\n")
    env["SWITCHBOARD_API_KEYS"] = key
    return key


def require_free_port(host: str, port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise LaunchError(
                f"port {port} on {host} is taken ({exc.strerror}); set SWITCHBOARD_PORT to another"
            ) from exc


def migrate(env: dict[str, str], stopping: Callable[[], bool]) -> bool:
    """Apply every service's and the gateway's migrations, in parallel. False when asked to
    stop first (the runs are killed)."""
    say("applying migrations …")
    command = [sys.executable, "-m", "switchboard_shared.migrate"]
    runs = {
        name: subprocess.Popen(  # noqa: S603  (our own interpreter and module, no shell)
            [*command, name],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the launcher, which decides
        )
        for name in MIGRATED
    }
    deadline = time.monotonic() + MIGRATE_TIMEOUT_SECONDS
    while any(run.poll() is None for run in runs.values()):
        if stopping() or time.monotonic() > deadline:
            for run in runs.values():
                run.kill()
                run.wait()
            if stopping():
                return False
        time.sleep(0.2)
    failed = [
        f"{name} (exit {run.returncode}):\n{run.communicate()[0].decode(errors='replace')[-2000:]}"
        for name, run in runs.items()
        if run.returncode != 0
    ]
    if failed:
        raise LaunchError("migrations failed: " + "\n".join(failed))
    return True


def http_status(url: str, api_key: str = "") -> int:
    """`url` is one of the launcher's own `http://127.0.0.1:<port>/…` addresses."""
    if not url.startswith("http://"):
        raise ValueError(f"not a local http URL: {url}")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with urllib.request.urlopen(  # noqa: S310  (http:// checked above)
            urllib.request.Request(url, headers=headers),  # noqa: S310
            timeout=2,
        ) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, ValueError):
        return 0


def gateway_ready(base_url: str, api_key: str) -> bool:
    """`/api/v1/health/ready` (broker, database, a live worker per service; it takes the API
    key) where the gateway has it; plain liveness otherwise."""
    status = http_status(f"{base_url}/api/v1/health/ready", api_key)
    if status == 404:
        status = http_status(f"{base_url}/api/v1/health")
    return status == 200


def wait_until_ready(
    workers: list[Child],
    base_url: str,
    api_key: str,
    check: Callable[[], None],
    stopping: Callable[[], bool],
) -> bool:
    """Every worker logged `ready.` and the gateway is ready. False when asked to stop first;
    `check` raises when a child died."""
    waiting = {child.name: child for child in workers}
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        if stopping():
            return False
        check()
        waiting = {n: c for n, c in waiting.items() if not WORKER_READY.search(c.new_output())}
        if not waiting and gateway_ready(base_url, api_key):
            return True
        if time.monotonic() > deadline:
            missing = ", ".join(sorted(waiting)) or "the gateway's readiness"
            raise LaunchError(f"not ready within {READY_TIMEOUT_SECONDS:.0f}s: {missing}")
        time.sleep(0.3)


def register_stripe_webhook(stripe_port: int, base_url: str, secret: str) -> None:
    """localstripe then signs and sends payment_intent.* events to the gateway."""
    form = urllib.parse.urlencode({"url": f"{base_url}/webhooks/stripe", "secret": secret})
    url = f"http://127.0.0.1:{stripe_port}/_config/webhooks/switchboard"
    for attempt in range(50):
        try:
            request = urllib.request.Request(url, data=form.encode(), method="POST")
            urllib.request.urlopen(request, timeout=5).close()  # noqa: S310  (http://127.0.0.1 above)
            return
        except OSError:
            if attempt == 49:
                raise
            time.sleep(0.2)
