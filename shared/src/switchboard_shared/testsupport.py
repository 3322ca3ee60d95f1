"""Real local servers for tests: fresh PostgreSQL databases, RabbitMQ vhosts, worker processes.

Used by every package's tests and by the benchmarks. A server that is not running is an
error here, never a skip: a run that skips the real-service tests is not green.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
from sqlalchemy import MetaData
from sqlalchemy.orm import Session, sessionmaker

from .db import create_all, create_db_engine, create_session_factory

PG_ADMIN_URL = os.environ.get(
    "SWITCHBOARD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379")
RABBIT_URL = os.environ.get("SWITCHBOARD_TEST_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672")


def provider_secrets() -> dict[str, str]:
    """Fresh provider secrets, as a deploy's environment carries them: there is no default to
    fall back on (the gateway and the services refuse to start without theirs)."""
    return {
        "STRIPE_WEBHOOK_SECRET": f"whsec_{secrets.token_urlsafe(24)}",
        "PAYMENTS_STRIPE_API_KEY": f"sk_test_{secrets.token_urlsafe(24)}",
        "TWILIO_AUTH_TOKEN": secrets.token_urlsafe(24),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    name = f"sb_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database_sessions(url: str, *metadatas: MetaData) -> Iterator[sessionmaker[Session]]:
    """The kit's tables and `metadatas`' on the database at `url`; its engine disposed after."""
    engine = create_db_engine(url)
    create_all(engine, *metadatas)
    try:
        yield create_session_factory(engine)
    finally:
        engine.dispose()


@contextmanager
def rabbit_vhost() -> Iterator[str]:
    """A new RabbitMQ vhost (guest has all rights on it); deleted afterwards."""
    name = f"sb_test_{uuid.uuid4().hex[:12]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"{RABBIT_URL}/{name}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True)


REDIS_TEST_DATABASES = range(1, 16)  # 0 holds the leases
REDIS_LEASE_SECONDS = 1800


@contextmanager
def redis_database(wait_seconds: float = 300.0) -> Iterator[str]:
    """A flushed Redis logical database leased to this caller alone, flushed again afterwards.

    A lease is a key in database 0 taken with SET NX, so concurrent test processes (pytest-xdist
    workers, benchmarks, a second checkout) never share a database; it expires on its own if the
    holder is killed.
    """
    admin = redis.Redis.from_url(f"{REDIS_URL}/0")
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + wait_seconds
    index = _lease_database(admin, owner, deadline)
    url = f"{REDIS_URL}/{index}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
        lease = f"switchboard:test-redis-lease:{index}"
        if admin.get(lease) == owner.encode():
            admin.delete(lease)
        admin.close()


def _lease_database(admin: redis.Redis, owner: str, deadline: float) -> int:
    offset = int(owner[:4], 16)  # start at a random database: fewer collisions between takers
    while True:
        for step in range(len(REDIS_TEST_DATABASES)):
            index = REDIS_TEST_DATABASES[(offset + step) % len(REDIS_TEST_DATABASES)]
            lease = f"switchboard:test-redis-lease:{index}"
            if admin.set(lease, owner, nx=True, ex=REDIS_LEASE_SECONDS):
                return index
        if time.monotonic() > deadline:
            raise TimeoutError(f"all {len(REDIS_TEST_DATABASES)} Redis test databases are leased")
        time.sleep(0.2)


@dataclass
class WorkerProcess:
    """A real `celery worker` of one service, in its own process group."""

    app: str
    env: dict[str, str]
    log_path: Path
    concurrency: int = 1
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> WorkerProcess:
        name = f"{self.app.split('.')[0]}-{uuid.uuid4().hex[:6]}@%h"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            self.app,
            "worker",
            "-P",
            "prefork",
            "-c",
            str(self.concurrency),
            "-n",
            name,
            "--without-gossip",
            "--without-mingle",
            "-l",
            "INFO",
            *self.extra_args,
        ]
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **self.env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.wait_for_log("ready.", timeout)
        except BaseException:
            self.stop()  # a worker that never got ready must not outlive the test
            raise
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30.0, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output().count(text) >= count:
                return
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"worker {self.app} exited:\n{self.output()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(
            f"{text!r} not seen in worker log within {timeout}s:\n{self.output()[-3000:]}"
        )

    def children(self) -> list[int]:
        assert self.process is not None
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        self.log.close()


def terminate(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def wait_until(predicate: object, timeout: float = 20.0, interval: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()  # type: ignore[operator]
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)


class TcpProxy:
    """A loopback TCP forwarder to a real server, to take a broker "down" and bring it back.

    `stop()` closes the listener and cuts live connections, so clients see refused and reset
    connections exactly as when the server goes away; `start()` brings it back on the same port.
    """

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._listener is not None:
                # shutdown() wakes the thread blocked in accept(); close() alone leaves the
                # kernel socket listening until that accept returns.
                with contextlib.suppress(OSError):
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
