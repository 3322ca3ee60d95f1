"""Report storage for real: S3 through boto3 against moto's server (SSE, presigned download),
the local folder, the cleanup job, and the invoice PDF."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer
from pypdf import PdfReader
from reports_history import START, ReportsDb, reports_db
from sqlalchemy import select
from switchboard_reports.adapters.s3 import S3Storage
from switchboard_reports.adapters.storage import LocalStorage, ReportStorage
from switchboard_reports.bootstrap import build_storage
from switchboard_reports.config import ReportsSettings
from switchboard_reports.generation import generate_report
from switchboard_reports.housekeeping import cleanup
from switchboard_reports.models import Report
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.payments import InvoiceIssued
from switchboard_shared.contracts.reports import GenerateReport
from switchboard_shared.envelopes import wrap
from switchboard_shared.records import OutboxMessage, utcnow
from switchboard_shared.settings import PlatformSettings
from switchboard_shared.testsupport import free_port

pytestmark = pytest.mark.integration
BUCKET = "switchboard-reports-test"


@pytest.fixture(scope="module")
def s3_client() -> Iterator[Any]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(signature_version="s3v4"),
    )
    client.create_bucket(Bucket=BUCKET)
    yield client
    server.stop()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[ReportsDb]:
    made = reports_db(f"sqlite:///{tmp_path / 'reports.db'}", tmp_path / "store")
    yield made
    made.engine.dispose()


def s3(client: Any, **options: Any) -> S3Storage:
    return S3Storage(BUCKET, "reports/", client=client, presign_seconds=600, **options)


def make(db: ReportsDb, storage: ReportStorage, report_id: str, fmt: str = "csv") -> dict[str, Any]:
    command = GenerateReport(
        report_id=report_id,
        kind="sales",
        format=fmt,
        period_from=START,
        period_to=START,  # type: ignore[arg-type]
    )
    with db.uow() as uow:
        return generate_report(command, uow, db.reporter(storage))


def test_a_report_uploads_to_s3_encrypted_and_downloads_by_presigned_url(
    db: ReportsDb, s3_client: Any
) -> None:
    result = make(db, s3(s3_client, sse="AES256"), "rep_s3", "html")
    assert result["location"].startswith(f"s3://{BUCKET}/reports/")
    key = result["location"].removeprefix(f"s3://{BUCKET}/")
    head = s3_client.head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"].startswith("text/html")
    assert head["ContentLength"] == result["size"]
    assert "X-Amz-Signature=" in result["download_url"]
    download = httpx.get(result["download_url"], timeout=10)
    assert download.status_code == 200
    assert b"<h1>Sales report</h1>" in download.content
    assert len(download.content) == result["size"]
    with db.sessions() as session:
        [event] = session.scalars(select(OutboxMessage)).all()
    assert event.event_type == "report-generated"
    assert event.envelope["data"]["download_url"] == result["download_url"]
    assert event.envelope["data"]["location"] == result["location"]


def test_s3_storage_is_chosen_and_configured_by_settings(
    db: ReportsDb, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("REPORTS_STORAGE", "s3")
    monkeypatch.setenv("REPORTS_S3_BUCKET", BUCKET)
    monkeypatch.setenv("REPORTS_S3_PREFIX", "daily/")
    monkeypatch.setenv("REPORTS_S3_ENDPOINT_URL", s3_client.meta.endpoint_url)
    storage = build_storage(ReportsSettings(), PlatformSettings())
    result = make(db, storage, "rep_settings", "json")
    assert result["location"].startswith(f"s3://{BUCKET}/daily/")
    assert httpx.get(result["download_url"], timeout=10).json()["report"]["kind"] == "sales"


def test_local_storage_keeps_reports_inside_its_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    source = tmp_path / "r.csv"
    source.write_text("a,b\n")
    stored = storage.put("2026/11/r.csv", source, "text/csv")
    assert stored.location == (tmp_path / "store" / "2026/11/r.csv").resolve().as_uri()
    assert storage.exists(stored.location)
    with pytest.raises(ValueError):
        storage.put("../escape.csv", source, "text/csv")
    assert storage.delete(stored.location) and not storage.delete(stored.location)


def _age(db: ReportsDb, report_id: str, days: float) -> None:
    with db.sessions() as session, session.begin():
        report = session.get(Report, report_id)
        assert report is not None
        report.created_at = utcnow() - timedelta(days=days)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_cleanup_deletes_exactly_the_reports_older_than_the_retention(
    db: ReportsDb, s3_client: Any, backend: str
) -> None:
    storage: ReportStorage = s3(s3_client) if backend == "s3" else LocalStorage(db.storage_dir)
    ages = {"old_1": 40, "old_2": 31, "edge_new": 29.9, "new": 1}
    results = {rid: make(db, storage, f"{backend}_{rid}") for rid in ages}
    for rid, days in ages.items():
        _age(db, f"{backend}_{rid}", days)
    with db.uow() as uow:
        outcome = cleanup(uow, storage, retention_days=30)
    assert sorted(outcome["report_ids"]) == [f"{backend}_old_1", f"{backend}_old_2"]
    for rid, result in results.items():
        assert storage.exists(result["location"]) == (not rid.startswith("old"))
    with db.sessions() as session:
        left = set(session.scalars(select(Report.report_id)).all())
    assert left == {f"{backend}_edge_new", f"{backend}_new"}


def test_an_issued_invoice_becomes_a_pdf_kept_by_the_cleanup(db: ReportsDb) -> None:
    invoice = InvoiceIssued(
        invoice_number="INV-2026-000042", order_id="ord_9", amount=259900, currency="usd"
    )
    envelope = wrap(invoice, service="payments", context=MessageContext.new("ord_9"))
    assert db.deliver([envelope, envelope])[1] == []  # the duplicate renders nothing
    with db.sessions() as session:
        report = session.get(Report, "invoice-INV-2026-000042")
        assert report is not None and report.kind == "invoice"
        events = [row.event_type for row in session.scalars(select(OutboxMessage)).all()]
    assert events == ["report-generated"]
    text = PdfReader(report.location.removeprefix("file://")).pages[0].extract_text()  # type: ignore[union-attr]
    assert "INV-2026-000042" in text and "USD 2,599.00" in text and "ord_9" in text
    _age(db, "invoice-INV-2026-000042", 400)
    with db.uow() as uow:
        assert cleanup(uow, LocalStorage(db.storage_dir), retention_days=30)["deleted"] == 0
