"""`switchboard failures|trends`: what failed and how the platform did over time."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Group
from rich.markup import escape

from switchboard_gateway.cli.render import (
    Column,
    ago,
    console,
    emit,
    items_of,
    percent,
    print_json,
    seconds,
    show,
    table,
)
from switchboard_gateway.cli.state import HoursOption, JsonOption, client_of
from switchboard_gateway.cli.summary import trend_bucket

FAILURE_COLUMNS = [
    Column("classification", "classification"),
    Column("task", "name"),
    Column("service", "service"),
    Column("count", "count", "right"),
    Column("last seen", lambda row: ago(row.get("last_seen"))),
    Column(
        "last error",
        lambda row: escape(
            "{type}: {message}".format(
                **{"type": None, "message": None, **(row.get("last_error") or {})}
            )[:80]
        ),
    ),
]
TREND_COLUMNS = [
    Column("from", lambda row: str(row.get("start", ""))[:16].replace("T", " ")),
    Column("tasks", "total", "right"),
    Column("succeeded", "succeeded", "right"),
    Column("failed", "failed", "right"),
    Column("retries", "retries", "right"),
    Column("success", lambda row: percent(row.get("success_rate")), "right"),
    Column("p50", lambda row: seconds(row.get("runtime_p50")), "right"),
    Column("p95", lambda row: seconds(row.get("runtime_p95")), "right"),
]
METRIC_COLUMNS = [
    Column("task", "name"),
    Column("service", "service"),
    Column("total", "total", "right"),
    Column("success", lambda row: percent(row.get("success_rate")), "right"),
    Column("p50", lambda row: seconds((row.get("runtime") or {}).get("p50")), "right"),
    Column("p95", lambda row: seconds((row.get("runtime") or {}).get("p95")), "right"),
    Column("p99", lambda row: seconds((row.get("runtime") or {}).get("p99")), "right"),
    Column("retries", "retries", "right"),
]


def failures_view(report: dict[str, Any]) -> Group:
    by_class = report.get("by_classification") or {}
    summary = ", ".join(f"{name} {count}" for name, count in sorted(by_class.items()))
    hours = float(report.get("hours") or 0)
    heading = f"{report.get('total', 0)} failure(s) in {hours:g} h: {summary or 'none'}"
    rows = items_of(report)
    grid = table("Failures by classification and task", FAILURE_COLUMNS, rows) if rows else ""
    return Group(heading, grid)


def failures(
    ctx: typer.Context, hours: HoursOption = 24.0, json_output: JsonOption = False
) -> None:
    """Failures grouped by classification and task over the window."""
    emit(client_of(ctx).get("/failures", hours=hours), json_output, failures_view)


def trends(
    ctx: typer.Context,
    hours: HoursOption = 24.0,
    bucket: Annotated[
        str | None, typer.Option(help="Bucket size: 15m, 1h, 1d (default: about 24 buckets).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Tasks, success rate and runtimes per time bucket, plus per-task metrics."""
    client = client_of(ctx)
    report = client.get("/trends", hours=hours, bucket=bucket or trend_bucket(hours))
    metrics = client.get("/metrics", hours=hours)
    if json_output:
        print_json({"trends": report, "metrics": metrics})
        return
    buckets = items_of(report)
    busy = [bucket for bucket in buckets if bucket.get("total")]
    title = f"Trends over {hours:g} h (buckets of {report.get('bucket')})"
    show(title, TREND_COLUMNS, busy)
    if len(busy) < len(buckets):
        console.print(f"({len(buckets) - len(busy)} bucket(s) without tasks not shown)")
    show("Per task", METRIC_COLUMNS, items_of(metrics))
