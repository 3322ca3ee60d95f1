"""Follow-up to the sync SSRF fixes: the external sync read each page's whole body into memory.

The attack: the sync source (hostile, or broken) answers a page that never ends, or a small
gzip body that inflates to gigabytes; the worker held all of it. Each page is now read streamed
and the sync fails, with the reason, once the body passes INTEGRATIONS_SYNC_MAX_RESPONSE_BYTES.
Each test runs the sync command through integrations' real handler and HTTP client against a
real local HTTP server, on SQLite and PostgreSQL, with the worker's memory traced.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_integrations.adapters.dispatch import RecordingDispatcher
from switchboard_integrations.bootstrap import bootstrap
from switchboard_integrations.config import IntegrationsSettings
from switchboard_integrations.models import Base, SyncedRecord
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.integrations import SyncExternal
from switchboard_shared.messagebus import handle_command
from switchboard_shared.records import OutboxMessage
from switchboard_shared.settings import PlatformSettings
from switchboard_shared.testsupport import database_sessions
from switchboard_shared.uow import SqlAlchemyUnitOfWork

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
CAP = MIB  # the tests' INTEGRATIONS_SYNC_MAX_RESPONSE_BYTES
ENOUGH = 256 * MIB  # where the "endless" server gives up, so an unfixed worker still ends
RECORD = (json.dumps({"id": 1, "name": "x" * 1000}) + ",").encode()


def endless_json() -> Iterator[bytes]:
    """`[{...},{...},...` for ever (well, ENOUGH bytes): never valid, never finished."""
    yield b"["
    chunk = RECORD * 64
    for _ in range(ENOUGH // len(chunk)):
        yield chunk


def gzip_bomb() -> Iterator[bytes]:
    """One gzip stream of ENOUGH bytes of JSON whitespace: about 1 KiB per MiB on the wire."""
    deflate, spaces = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS), b" " * MIB
    for _ in range(ENOUGH // MIB):
        yield deflate.compress(spaces) + deflate.flush(zlib.Z_SYNC_FLUSH)


class SyncSource:
    """`/endless` streams `endless_json`, `/bomb` a gzip bomb, `/small` a gzipped page of two
    records; no Content-Length: the body ends when the connection does (HTTP/1.0)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.sent = 0  # body bytes written, until the client hung up
        self.done = threading.Event()
        routes: dict[str, tuple[str, Callable[[], Iterator[bytes]]]] = {
            "/endless": ("identity", endless_json),
            "/bomb": ("gzip", gzip_bomb),
            "/small": ("gzip", lambda: iter([gzip.compress(b'[{"id": 1}, {"id": 2}]')])),
        }
        source = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                source.hits.append(self.path)
                encoding, body = routes[self.path]
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-encoding", encoding)
                self.end_headers()
                try:
                    for chunk in body():
                        self.wfile.write(chunk)
                        source.sent += len(chunk)
                except OSError:
                    pass  # the worker hung up: what this test wants
                finally:
                    source.done.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "test-token-not-used-here")


@pytest.fixture
def db(database_url: str) -> Iterator[sessionmaker[Session]]:
    with database_sessions(database_url, Base.metadata) as sessions:
        yield sessions


@pytest.fixture
def source() -> Iterator[SyncSource]:
    server = SyncSource()
    yield server
    server.close()


def run_sync(db: sessionmaker[Session], url: str) -> tuple[dict[str, Any], list[str], int]:
    """The sync command as beat sends it, through the worker's wiring (real HTTP client):
    its result, the events it published, and the peak memory it allocated, in bytes."""
    registry = bootstrap(
        IntegrationsSettings(sync_url=url, sync_timeout_seconds=5, sync_max_response_bytes=CAP),
        PlatformSettings(allow_private_webhooks=False),
        dispatcher=RecordingDispatcher(),
    )
    context = MessageContext.new("attack", "task-sync")
    tracemalloc.start()
    try:
        result = handle_command(
            SyncExternal.task_name,
            SyncExternal().model_dump(),
            "task-sync",
            context,
            registry,
            lambda ctx: SqlAlchemyUnitOfWork(db, service="integrations", context=ctx),
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    with db() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)).all()
        return result, [row.event_type for row in rows], peak


def assert_too_large(db: sessionmaker[Session], source: SyncSource, path: str) -> None:
    started = time.monotonic()
    result, events, peak = run_sync(db, f"{source.url}{path}")

    assert result["status"] == "failed", result
    assert "response too large" in result["reason"], result
    assert f"more than {CAP} bytes" in result["reason"]
    assert "INTEGRATIONS_SYNC_MAX_RESPONSE_BYTES" in result["reason"]
    assert events == ["sync-failed"]
    with db() as session:
        assert session.scalars(select(SyncedRecord)).all() == [], "nothing half-synced"
    assert peak < 8 * CAP, f"the sync held {peak / MIB:.1f} MiB for a {CAP / MIB:.0f} MiB cap"
    assert source.hits == [path], "a refused page is not fetched again"
    assert time.monotonic() - started < 10
    assert source.done.wait(10), "the server kept sending after the worker stopped reading"


def test_a_sync_page_that_never_ends_fails_at_the_cap_with_memory_bounded(
    db: sessionmaker[Session], source: SyncSource
) -> None:
    assert_too_large(db, source, "/endless")
    assert source.sent < ENOUGH // 4, f"{source.sent / MIB:.0f} MiB pulled from the source"


def test_a_gzip_bomb_page_is_inflated_only_up_to_the_cap(
    db: sessionmaker[Session], source: SyncSource
) -> None:
    assert_too_large(db, source, "/bomb")


def test_a_gzipped_page_within_the_cap_still_syncs(
    db: sessionmaker[Session], source: SyncSource
) -> None:
    result, events, _ = run_sync(db, f"{source.url}/small")

    assert result == {"status": "completed", "fetched": 2, "created": 2, "updated": 0}
    assert events == ["sync-completed"]


def test_the_sync_cap_defaults_to_10_mib_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert IntegrationsSettings().sync_max_response_bytes == 10 * MIB
    monkeypatch.setenv("INTEGRATIONS_SYNC_MAX_RESPONSE_BYTES", "2048")
    assert IntegrationsSettings().sync_max_response_bytes == 2048
    monkeypatch.setenv("INTEGRATIONS_SYNC_MAX_RESPONSE_BYTES", "0")
    with pytest.raises(ValueError, match="sync_max_response_bytes"):
        IntegrationsSettings()
