"""A report's status, progress and download, from the gateway's own report view."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_gateway.api.deps import SettingsDep, StoreDep
from switchboard_gateway.errors import ErrorResponse
from switchboard_gateway.report_progress import ProgressReader, get_progress_reader
from switchboard_gateway.report_views import ReportView

router = APIRouter()
ProgressDep = Annotated[ProgressReader, Depends(get_progress_reader)]


class ReportLimits(BaseSettings):
    """The `REPORTS_*` values the reports service also reads: one setting, two readers."""

    model_config = SettingsConfigDict(env_prefix="REPORTS_", extra="ignore")

    max_period_days: int = 366
    storage_dir: Path | None = None  # default: <SWITCHBOARD_DATA_DIR>/reports


class ReportStatus(BaseModel):
    report_id: str
    kind: str
    format: str
    period: dict[str, date | None]
    status: str  # pending, running, generated, failed
    progress: float
    current_step: str | None
    size: int
    rows: int
    content_type: str | None
    download_url: str | None
    download_expires_at: datetime | None
    error: str | None
    task_id: str | None
    batch_task_id: str | None
    created_at: datetime
    completed_at: datetime | None


def _view(store: Any, report_id: str) -> ReportView:
    with store.runtime.session_factory() as session:
        view: ReportView | None = session.get(ReportView, report_id)
    if view is None:
        raise HTTPException(404, detail=f"No report {report_id}")
    return view


def _download_url(view: ReportView) -> str | None:
    if view.status != "generated" or not view.location:
        return None
    if view.location.startswith("file://"):
        return f"/api/v1/reports/{view.report_id}/download"
    return view.download_url


def _progress(view: ReportView, read: ProgressReader) -> tuple[str, float, str | None]:
    if view.status in ("generated", "failed"):
        return view.status, 100.0, "done" if view.status == "generated" else "failed"
    task_id = view.task_id or view.batch_task_id
    progress = read(task_id) if task_id else None
    if progress is None or progress.state in ("PENDING", "RECEIVED"):
        return "pending", 0.0, None
    # The event, not the task state, says generated or failed: until it lands, it runs.
    return "running", min(progress.percent, 99.0), progress.step


@router.get(
    "/{report_id}",
    response_model=ReportStatus,
    summary="A report: status, progress, size and download URL when ready",
    responses={404: {"model": ErrorResponse}},
)
def get_report(report_id: str, store: StoreDep, read_progress: ProgressDep) -> ReportStatus:
    view = _view(store, report_id)
    state, percent, step = _progress(view, read_progress)
    return ReportStatus(
        report_id=view.report_id,
        kind=view.kind,
        format=view.format,
        period={"from": view.period_from, "to": view.period_to},
        status=state,
        progress=percent,
        current_step=step,
        size=view.size,
        rows=view.rows,
        content_type=view.content_type,
        download_url=_download_url(view),
        download_expires_at=view.download_expires_at,
        error=view.error,
        task_id=view.task_id,
        batch_task_id=view.batch_task_id,
        created_at=view.created_at,
        completed_at=view.completed_at,
    )


def _local_file(view: ReportView, settings: Any) -> Path:
    root = (ReportLimits().storage_dir or settings.data_dir / "reports").resolve()
    path = Path((view.location or "").removeprefix("file://")).resolve()
    if not path.is_relative_to(root):
        raise HTTPException(404, detail=f"Report {view.report_id} is not in the reports folder")
    if not path.is_file():
        raise HTTPException(404, detail=f"Report {view.report_id} is no longer stored")
    return path


@router.get(
    "/{report_id}/download",
    summary="The report file (local storage) or a redirect to its presigned URL (S3)",
    responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
    response_model=None,
)
def download_report(report_id: str, store: StoreDep, settings: SettingsDep) -> Response:
    view = _view(store, report_id)
    if view.status != "generated" or not view.location:
        raise HTTPException(409, detail=f"Report {report_id} is {view.status}, not ready")
    if not view.location.startswith("file://"):
        if not view.download_url:
            raise HTTPException(404, detail=f"Report {report_id} has no download URL")
        return RedirectResponse(view.download_url, status_code=307)
    return FileResponse(
        _local_file(view, settings),
        media_type=view.content_type or "application/octet-stream",
        filename=f"{view.report_id}.{view.format}",
    )
