"""`/api/v1/reports`: validation naming the field, submission, the view built from report
events, progress from the result backend, downloads from local storage and S3 redirects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from fastapi.testclient import TestClient
from gateway_fakes import API_KEY, WEBHOOK_SECRETS, RecordingSender
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.eventlog import registry
from switchboard_gateway.main import create_app
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.reports import GenerateReportBatch, ReportFailed, ReportGenerated
from switchboard_shared.envelopes import wrap
from switchboard_shared.messagebus import handle_event
from switchboard_shared.testsupport import redis_database

GOOD = {"kind": "sales", "format": "pdf", "period": {"from": "2026-11-01", "to": "2026-11-30"}}


@pytest.fixture
def backend() -> Iterator[str]:
    with redis_database() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, backend: str) -> GatewaySettings:
    return GatewaySettings(
        api_keys=API_KEY,
        broker_url="memory://",
        redis_url=backend,
        data_dir=tmp_path,
        **WEBHOOK_SECRETS,
    )


@pytest.fixture
def client(settings: GatewaySettings, sender: RecordingSender) -> Iterator[TestClient]:
    with TestClient(create_app(settings, sender)) as test_client:
        yield test_client


def deliver(client: TestClient, event: Any, report_id: str) -> None:
    store = client.app.state.store.get()  # type: ignore[attr-defined]
    envelope = wrap(event, service="reports", context=MessageContext.new(report_id))
    handle_event(envelope, registry, store.runtime.uow)


def with_period(**period: str) -> dict[str, Any]:
    return {**GOOD, "period": period}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**GOOD, "kind": "weather"}, "kind"),
        ({**GOOD, "format": "docx"}, "format"),
        (with_period(**{"from": "2026-12-01", "to": "2026-11-01"}), "period.from"),
        (with_period(**{"from": "2024-01-01", "to": "2026-11-01"}), "period.to"),
        (with_period(**{"from": "yesterday", "to": "2026-11-01"}), "period.from"),
        (with_period(to="2026-11-01"), "period.from"),
    ],
)
def test_bad_report_requests_are_422_naming_the_field(
    client: TestClient, auth: dict[str, str], sender: RecordingSender, body: Any, field: str
) -> None:
    response = client.post("/api/v1/reports", json=body, headers=auth)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [detail["field"] for detail in error["details"]]
    assert sender.sent == []


def test_the_period_maximum_is_configured(
    client: TestClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPORTS_MAX_PERIOD_DAYS", "7")
    response = client.post("/api/v1/reports", json=GOOD, headers=auth)
    assert response.status_code == 422
    assert "maximum of 7 days" in response.json()["error"]["details"][0]["message"]


def test_a_batch_names_the_bad_report_by_index(client: TestClient, auth: dict[str, str]) -> None:
    bad = with_period(**{"from": "2026-12-01", "to": "2026-11-01"})
    response = client.post("/api/v1/reports/batch", json={"reports": [GOOD, bad]}, headers=auth)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "reports[1].period.from"


def test_a_report_is_accepted_and_followed_to_its_download(
    client: TestClient,
    auth: dict[str, str],
    sender: RecordingSender,
    settings: GatewaySettings,
    backend: str,
) -> None:
    accepted = client.post("/api/v1/reports", json=GOOD, headers=auth)
    assert accepted.status_code == 202
    body = accepted.json()
    report_id, task_id = body["report_id"], body["task_id"]
    assert body["status_url"] == f"/api/v1/tasks/{task_id}"
    [sent] = sender.sent
    assert sent.command.task_name == "reports.generate" and sent.task_id == task_id
    assert sent.correlation_id == report_id
    assert sent.command.model_dump(mode="json")["period_from"] == "2026-11-01"

    first = client.get(f"/api/v1/reports/{report_id}", headers=auth).json()
    assert (first["status"], first["progress"], first["download_url"]) == ("pending", 0.0, None)

    backend_app = Celery("w", broker="memory://", backend=backend, set_as_current=False)
    backend_app.backend.store_result(
        task_id, {"progress": 42.0, "current_step": "writing rows"}, "PROGRESS"
    )
    running = client.get(f"/api/v1/reports/{report_id}", headers=auth).json()
    assert (running["status"], running["progress"], running["current_step"]) == (
        "running",
        42.0,
        "writing rows",
    )

    stored = settings.data_dir / "reports" / "2026" / f"{report_id}.pdf"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"%PDF-1.7 a report")
    generated = ReportGenerated(
        report_id=report_id,
        kind="sales",
        format="pdf",
        size=17,
        location=stored.resolve().as_uri(),
        content_type="application/pdf",
        rows=12,
    )
    deliver(client, generated, report_id)
    ready = client.get(f"/api/v1/reports/{report_id}", headers=auth).json()
    assert ready["status"] == "generated" and ready["progress"] == 100.0
    assert (ready["size"], ready["rows"]) == (17, 12)
    assert ready["download_url"] == f"/api/v1/reports/{report_id}/download"
    download = client.get(ready["download_url"], headers=auth)
    assert download.status_code == 200 and download.content == b"%PDF-1.7 a report"
    assert download.headers["content-type"] == "application/pdf"


def test_an_s3_report_answers_its_presigned_url(client: TestClient, auth: dict[str, str]) -> None:
    url = "https://bucket.s3.amazonaws.com/reports/r.csv?X-Amz-Signature=abc"
    event = ReportGenerated(
        report_id="rep_daily",
        kind="orders",
        format="csv",
        size=5,
        location="s3://bucket/reports/r.csv",
        download_url=url,
    )
    deliver(client, event, "rep_daily")
    view = client.get("/api/v1/reports/rep_daily", headers=auth).json()
    assert view["download_url"] == url
    redirect = client.get(
        "/api/v1/reports/rep_daily/download", headers=auth, follow_redirects=False
    )
    assert redirect.status_code == 307 and redirect.headers["location"] == url


def test_a_failed_report_says_why_and_has_nothing_to_download(
    client: TestClient, auth: dict[str, str]
) -> None:
    report_id = client.post("/api/v1/reports", json=GOOD, headers=auth).json()["report_id"]
    deliver(
        client,
        ReportFailed(report_id=report_id, reason="report exceeds the file-size cap"),
        report_id,
    )
    view = client.get(f"/api/v1/reports/{report_id}", headers=auth).json()
    assert view["status"] == "failed" and "file-size cap" in view["error"]
    assert client.get(f"/api/v1/reports/{report_id}/download", headers=auth).status_code == 409


def test_a_location_outside_the_reports_folder_is_never_served(
    client: TestClient, auth: dict[str, str], tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    event = ReportGenerated(
        report_id="rep_x", kind="sales", format="csv", size=2, location=secret.as_uri()
    )
    deliver(client, event, "rep_x")
    assert client.get("/api/v1/reports/rep_x/download", headers=auth).status_code == 404


def test_a_batch_is_one_command_and_one_task(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    other = {**GOOD, "kind": "orders", "format": "xlsx"}
    response = client.post("/api/v1/reports/batch", json={"reports": [GOOD, other]}, headers=auth)
    assert response.status_code == 202
    body = response.json()
    [sent] = sender.sent
    assert isinstance(sent.command, GenerateReportBatch) and sent.task_id == body["task_id"]
    assert [r.report_id for r in sent.command.reports] == [r["report_id"] for r in body["reports"]]
    view = client.get(body["reports"][1]["report_url"], headers=auth).json()
    assert (view["kind"], view["format"], view["batch_task_id"]) == (
        "orders",
        "xlsx",
        body["task_id"],
    )


def test_unknown_report_is_404(client: TestClient, auth: dict[str, str]) -> None:
    assert client.get("/api/v1/reports/rep_nope", headers=auth).status_code == 404
