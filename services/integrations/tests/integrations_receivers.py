"""Real HTTP receivers for outbound webhooks: verifying, flaky, slow, tarpit, redirecting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool | None = None
    error: str | None = None
    at: float = field(default_factory=time.monotonic)


class Receiver:
    """`url("/verify")` etc.; `received` holds every request in arrival order."""

    def __init__(self, secret: str, *, slow_seconds: float = 3.0, flaky_failures: int = 1) -> None:
        self.secret = secret
        self.slow_seconds = slow_seconds
        self.flaky_failures = flaky_failures
        self.received: list[Received] = []
        self.secrets: dict[str, str] = {}  # per path, when endpoints have their own secrets
        self.in_tarpit = 0
        self.most_in_tarpit = 0
        self.lock = threading.Lock()
        self.tarpit_cut = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def start(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.tarpit_cut.set()
        self.server.shutdown()
        self.server.server_close()

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def record(self, request: Received) -> int:
        with self.lock:
            self.received.append(request)
            return sum(1 for r in self.received if r.path == request.path)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            route: Callable[[Received], None] = getattr(
                self, "route_" + self.path.strip("/").split("?")[0].replace("-", "_"), self.route_ok
            )
            self.verify(request)  # every request is checked; only /verify answers by it
            count = receiver.record(request)
            if route == self.route_flaky:
                self.route_flaky(request, count)
            else:
                route(request)

        def verify(self, request: Received) -> None:
            try:
                secret = receiver.secrets.get(request.path, receiver.secret)
                Webhook(secret).verify(request.body, request.headers)
                request.verified = True
            except WebhookVerificationError as exc:
                request.verified, request.error = False, str(exc)

        def reply(self, status: int, body: bytes = b"", **headers: str) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("content-length", str(len(body)))
            try:
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the sender gave up (timeout): that is what the test wants

        def route_ok(self, request: Received) -> None:
            self.reply(200, b'{"received":true}')

        def route_verify(self, request: Received) -> None:
            self.reply(204) if request.verified else self.reply(400, (request.error or "").encode())

        def route_fail(self, request: Received) -> None:
            self.reply(500, b"internal error")

        def route_flaky(self, request: Received, count: int) -> None:
            self.reply(500, b"try later") if count <= receiver.flaky_failures else self.reply(200)

        def route_slow(self, request: Received) -> None:
            time.sleep(receiver.slow_seconds)
            self.reply(200, b"too late")

        def route_redirect_metadata(self, request: Received) -> None:
            self.reply(302, location="http://169.254.169.254/latest/meta-data/")

        def route_tarpit(self, request: Received) -> None:
            """Answers one byte every 0.2 s, forever: no read ever times out."""
            with receiver.lock:
                receiver.in_tarpit += 1
                receiver.most_in_tarpit = max(receiver.most_in_tarpit, receiver.in_tarpit)
            try:
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
                    if receiver.tarpit_cut.wait(0.2):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            except OSError:
                pass
            finally:
                with receiver.lock:
                    receiver.in_tarpit -= 1

    return Handler
