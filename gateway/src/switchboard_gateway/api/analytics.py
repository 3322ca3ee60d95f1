"""Analytics over the task ledger: metrics per task, failures by class, trends over time."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from switchboard_gateway.api.deps import LedgerDep
from switchboard_gateway.ledger import stats

router = APIRouter(tags=["monitoring"])
Hours = Query(24.0, gt=0, le=24 * 90, description="the window, in hours back from now")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class RuntimeSummary(BaseModel):
    p50: float | None
    p95: float | None
    p99: float | None
    avg: float | None


class TaskMetrics(BaseModel):
    name: str
    service: str
    total: int
    by_state: dict[str, int]
    success_rate: float | None
    runtime: RuntimeSummary
    retries: int


class MetricsReport(BaseModel):
    hours: float
    items: list[TaskMetrics]


class FailureGroup(BaseModel):
    classification: str
    name: str
    service: str
    count: int
    last_seen: str
    last_error: dict[str, str | None]
    task_ids: list[str]


class FailureReport(BaseModel):
    hours: float
    total: int
    by_classification: dict[str, int]
    items: list[FailureGroup]


class TrendBucket(BaseModel):
    start: str
    total: int
    succeeded: int
    failed: int
    retries: int
    success_rate: float | None
    runtime_p50: float | None
    runtime_p95: float | None


class TrendReport(BaseModel):
    hours: float
    bucket: str
    items: list[TrendBucket]


def parse_bucket(bucket: str, hours: float) -> timedelta:
    match = re.fullmatch(r"(\d{1,4})([mhd])", bucket)
    size = timedelta(**{UNITS[match.group(2)]: int(match.group(1))}) if match else None
    if size is None or size <= timedelta(0) or timedelta(hours=hours) / size > 1000:
        raise bucket_error("a size like 15m, 1h or 1d, at most 1000 buckets in the window")
    return size


def bucket_error(message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", "bucket"), "msg": message, "type": "value_error"}]
    )


@router.get(
    "/metrics",
    response_model=MetricsReport,
    summary="Per task name: states, success rate, runtimes, retries",
)
def metrics(ledger: LedgerDep, hours: float = Hours) -> dict[str, Any]:
    return {"hours": hours, "items": stats.task_metrics(ledger, hours)}


@router.get(
    "/failures", response_model=FailureReport, summary="Failures grouped by classification and task"
)
def failures(ledger: LedgerDep, hours: float = Hours) -> dict[str, Any]:
    return stats.failures(ledger, hours)


@router.get(
    "/trends",
    response_model=TrendReport,
    summary="Tasks per time bucket (seed 000 performance trends)",
)
def trends(
    ledger: LedgerDep,
    hours: float = Hours,
    bucket: str = Query("1h", description="bucket size: 15m, 1h, 1d …", max_length=6),
) -> dict[str, Any]:
    size = parse_bucket(bucket, hours)
    try:
        items = stats.trends(ledger, hours, size)
    except stats.WindowTooLong as exc:
        raise bucket_error(str(exc)) from exc
    return {"hours": hours, "bucket": bucket, "items": items}
