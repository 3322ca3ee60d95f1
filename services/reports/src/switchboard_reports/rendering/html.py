"""HTML reports with jinja2: one self-contained page, charts inline as SVG."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ..summary import Summary
from . import charts
from .pdf import period_text

environment = Environment(
    loader=PackageLoader("switchboard_reports.rendering", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_report(summary: Summary, path: Path) -> None:
    template = environment.get_template("report.html.j2")
    page = template.render(
        summary=summary,
        period=period_text(summary.period_from, summary.period_to),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        # Our own matplotlib output: it draws text as glyph paths and escapes the labels it
        # keeps in comments, so an order's category cannot become markup. Safe to inline.
        charts=[(chart.title, Markup(charts.svg(chart))) for chart in summary.charts],  # noqa: S704
    )
    path.write_text(page, encoding="utf-8")
