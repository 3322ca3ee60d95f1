"""Charts with matplotlib (Agg, no display): PNG for PDF pages, SVG inline in HTML."""

from __future__ import annotations

import io
from datetime import date

import matplotlib

matplotlib.use("Agg")

from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..summary import Chart

PALETTE = ["#2563eb", "#f97316", "#16a34a", "#dc2626", "#7c3aed", "#0891b2"]
DPI = 140
MAX_BARS = 45  # beyond this many days, bars become unreadable: draw lines instead


def _style(ax: Axes) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(labelsize=8)


def _days(chart: Chart, ax: Axes) -> None:
    days = [date.fromisoformat(label) for label in chart.labels]
    series = list(chart.series.items())
    x = mdates.date2num(days)
    if chart.style == "bars" and len(days) <= MAX_BARS:
        width = 0.8 / max(1, len(series))
        offsets = [(i - (len(series) - 1) / 2) * width for i in range(len(series))]
        for (name, values), offset, color in zip(series, offsets, PALETTE, strict=False):
            ax.bar(x + offset, values, width=width, label=name, color=color)
    else:
        for (name, values), color in zip(series, PALETTE, strict=False):
            ax.plot(x, values, label=name, color=color, linewidth=1.8, marker="o", markersize=2.5)
    locator = mdates.AutoDateLocator(maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if chart.y_label == "%":
        ax.set_ylim(0, 105)
    else:
        ax.set_ylim(bottom=0)


def _categories(chart: Chart, ax: Axes) -> None:
    if not chart.labels:
        ax.text(0.5, 0.5, "None in this period", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
        return
    [(name, values)] = list(chart.series.items())[:1]
    labels, values = list(reversed(chart.labels)), list(reversed(values))
    ax.barh(labels, values, color=PALETTE[3], label=name)
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:,.0f}", va="center", fontsize=8)


def draw(chart: Chart, width: float = 7.4, height: float = 2.5) -> Figure:
    # Fixed margins: constrained layout costs more than the drawing itself.
    figure = Figure(figsize=(width, height), dpi=DPI)
    left = 0.24 if chart.style == "barh" else 0.08
    figure.subplots_adjust(left=left, right=0.97, top=0.87, bottom=0.15)
    ax = figure.add_subplot()
    _style(ax)
    if chart.style == "barh":
        _categories(chart, ax)
    else:
        _days(chart, ax)
        if chart.y_label:
            ax.set_ylabel(chart.y_label, fontsize=8)
        if len(chart.series) > 1:
            ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.set_title(chart.title, fontsize=10, loc="left", fontweight="bold")
    return figure


def png(chart: Chart) -> bytes:
    buffer = io.BytesIO()
    draw(chart).savefig(buffer, format="png")
    return buffer.getvalue()


def svg(chart: Chart) -> str:
    buffer = io.StringIO()
    draw(chart).savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML declaration or doctype
