"""`switchboard report --output FILE`: an ops summary as HTML, Markdown or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from jinja2 import Environment, PackageLoader, select_autoescape
from jinja2.runtime import Undefined

from switchboard_gateway.cli.render import ago, console, percent, seconds
from switchboard_gateway.cli.state import HoursOption, client_of
from switchboard_gateway.cli.summary import full_report, queued


class ReportFormat(StrEnum):
    html = "html"
    md = "md"
    json = "json"


SUFFIXES = {
    ".html": ReportFormat.html,
    ".htm": ReportFormat.html,
    ".md": ReportFormat.md,
    ".markdown": ReportFormat.md,
    ".json": ReportFormat.json,
}


def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("switchboard_gateway.cli", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        percent=_shown(percent), seconds=_shown(seconds), ago=_shown(ago), queued=queued
    )
    return env


def _shown(format_value: Callable[[Any], str | None]) -> Callable[[Any], str]:
    """A figure as text, `-` where the answer has none (missing or null)."""
    return lambda value: "-" if isinstance(value, Undefined) else (format_value(value) or "-")


def trend_bars(buckets: list[dict[str, Any]], height: int = 120) -> list[dict[str, Any]]:
    """Bar geometry for the trend chart: succeeded and failed stacked, scaled to the busiest."""
    busiest = max((int(b.get("total") or 0) for b in buckets), default=0) or 1
    bars = []
    for index, bucket in enumerate(buckets):
        ok, bad = int(bucket.get("succeeded") or 0), int(bucket.get("failed") or 0)
        ok_h, bad_h = ok * height / busiest, bad * height / busiest
        bars.append(
            {
                "x": index * 22,
                "ok_y": height - ok_h,
                "ok_h": ok_h,
                "bad_y": height - ok_h - bad_h,
                "bad_h": bad_h,
                "label": str(bucket.get("start", ""))[11:16],
                "total": bucket.get("total", 0),
            }
        )
    return bars


def render(data: dict[str, Any], fmt: ReportFormat) -> str:
    if fmt is ReportFormat.json:
        return json.dumps(data, indent=2, default=str)
    template = templates().get_template(f"report.{fmt.value}.j2")
    bars = trend_bars((data.get("trends") or {}).get("items") or [])
    return template.render(r=data, bars=bars)


def report(
    ctx: typer.Context,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write: .html, .md or .json.")
    ],
    hours: HoursOption = 24.0,
    fmt: Annotated[
        ReportFormat | None,
        typer.Option("--format", help="Override the format the suffix implies."),
    ] = None,
) -> None:
    """Write an ops summary (status, per-task metrics, failures, trends, queues, dead letters)."""
    chosen = fmt or SUFFIXES.get(output.suffix.lower())
    if chosen is None:
        raise typer.BadParameter(
            "name a .html, .md or .json file, or pass --format", param_hint="--output"
        )
    data = full_report(client_of(ctx), hours)
    data["generated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    output.write_text(render(data, chosen), encoding="utf-8")
    verdict = "healthy" if data["healthy"] else "NOT healthy"
    console.print(
        f"wrote {chosen.value} report to {output} ({verdict}, {data['totals']['tasks']} tasks)"
    )
