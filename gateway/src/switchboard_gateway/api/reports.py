"""Reports: ask for one or a batch (`reports.generate*`), follow them, download them."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from switchboard_shared.contracts import Command
from switchboard_shared.contracts.reports import (
    MAX_BATCH_REPORTS,
    GenerateReport,
    GenerateReportBatch,
    ReportFormat,
    ReportKind,
)

from switchboard_gateway.api import report_status
from switchboard_gateway.api.deps import SenderDep, StoreDep
from switchboard_gateway.api.report_status import ReportLimits
from switchboard_gateway.errors import ErrorResponse
from switchboard_gateway.report_views import ReportView, report_submitted
from switchboard_gateway.sender import BrokerUnavailable

router = APIRouter(prefix="/reports", tags=["reports"])
router.include_router(report_status.router)


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: date = Field(alias="from")
    to: date


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ReportKind
    format: ReportFormat
    period: Period


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reports: list[ReportRequest] = Field(min_length=1, max_length=MAX_BATCH_REPORTS)


class ReportAccepted(BaseModel):
    report_id: str
    task_id: str
    status_url: str
    report_url: str


class BatchAccepted(BaseModel):
    batch_id: str
    task_id: str
    status_url: str
    reports: list[dict[str, str]]


def _check_period(period: Period, where: tuple[str | int, ...]) -> None:
    """Cross-field rules, reported in the gateway's 422 shape with the field's path."""
    limit = ReportLimits().max_period_days
    if period.from_ > period.to:
        message, field = "'from' must not be after 'to'", "from"
    elif (period.to - period.from_).days + 1 > limit:
        message, field = f"period is over the maximum of {limit} days", "to"
    else:
        return
    loc = ("body", *where, "period", field)
    raise RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


def _command(body: ReportRequest) -> GenerateReport:
    return GenerateReport(
        report_id=f"rep_{uuid.uuid4().hex}",
        kind=body.kind,
        format=body.format,
        period_from=body.period.from_,
        period_to=body.period.to,
    )


def _view(command: GenerateReport, **ids: str) -> ReportView:
    return ReportView(
        report_id=command.report_id,
        kind=command.kind,
        format=command.format,
        period_from=command.period_from,
        period_to=command.period_to,
        status="pending",
        size=0,
        rows=0,
        **ids,
    )


def _submit(
    store: Any, sender: Any, command: Command, correlation_id: str, views: list[ReportView]
) -> None:
    """Record the views first (a report is known before its first event), then send."""
    with store.runtime.session_factory() as session, session.begin():
        for view in views:
            report_submitted(session, view)
    try:
        sender.send(command, correlation_id, task_id=views[0].task_id or views[0].batch_task_id)
    except BrokerUnavailable as exc:
        raise HTTPException(503, detail="The broker is unavailable; try again") from exc


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReportAccepted,
    summary="Generate a report",
    responses={422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
def create_report(body: ReportRequest, sender: SenderDep, store: StoreDep) -> ReportAccepted:
    _check_period(body.period, ())
    command = _command(body)
    task_id = str(uuid.uuid4())
    _submit(store, sender, command, command.report_id, [_view(command, task_id=task_id)])
    return ReportAccepted(
        report_id=command.report_id,
        task_id=task_id,
        status_url=f"/api/v1/tasks/{task_id}",
        report_url=f"/api/v1/reports/{command.report_id}",
    )


@router.post(
    "/batch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchAccepted,
    summary="Generate several reports in parallel; one task tracks them all",
    responses={422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
def create_batch(body: BatchRequest, sender: SenderDep, store: StoreDep) -> BatchAccepted:
    for index, item in enumerate(body.reports):
        _check_period(item.period, ("reports", index))
    batch = GenerateReportBatch(
        batch_id=f"batch_{uuid.uuid4().hex}", reports=[_command(item) for item in body.reports]
    )
    task_id = str(uuid.uuid4())
    views = [_view(part, batch_task_id=task_id) for part in batch.reports]
    _submit(store, sender, batch, batch.batch_id, views)
    reports = [
        {"report_id": part.report_id, "report_url": f"/api/v1/reports/{part.report_id}"}
        for part in batch.reports
    ]
    return BatchAccepted(
        batch_id=batch.batch_id,
        task_id=task_id,
        status_url=f"/api/v1/tasks/{task_id}",
        reports=reports,
    )
