"""PDF documents with fpdf2: the report (figures, charts, daily table) and the invoice."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace

from ..summary import Summary
from . import charts

FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"  # DejaVu: Unicode, ships with matplotlib
INK, MUTED, ACCENT, TILE = (17, 24, 39), (107, 114, 128), (37, 99, 235), (243, 244, 246)
FIGURES_PER_ROW = 3


def long_date(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def period_text(start: date, end: date) -> str:
    return long_date(start) if start == end else f"{long_date(start)} – {long_date(end)}"


class SwitchboardPdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        self.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=18)
        self.set_title(footer_text)
        self.set_creator("Switchboard reports")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"Switchboard · {self.footer_text}", align="L")
        self.cell(0, 5, f"page {self.page_no()}/{{nb}}", align="R")

    def heading(self, title: str, subtitle: str) -> None:
        self.set_fill_color(*ACCENT)
        self.rect(0, 0, self.w, 4, style="F")
        self.set_y(14)
        self.set_font("DejaVu", "B", 22)
        self.set_text_color(*INK)
        self.cell(0, 11, title, new_x="LMARGIN", new_y="NEXT")
        self.set_font("DejaVu", "", 11)
        self.set_text_color(*MUTED)
        self.cell(0, 6, subtitle, new_x="LMARGIN", new_y="NEXT")
        self.ln(4)

    def section(self, title: str) -> None:
        self.set_font("DejaVu", "B", 12)
        self.set_text_color(*INK)
        self.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")

    def tiles(self, figures: list[tuple[str, str]], height: float = 17, gap: float = 3) -> None:
        width = (self.epw - gap * (FIGURES_PER_ROW - 1)) / FIGURES_PER_ROW
        top = self.get_y()
        for index, (label, value) in enumerate(figures):
            row, column = divmod(index, FIGURES_PER_ROW)
            x, y = self.l_margin + column * (width + gap), top + row * (height + gap)
            self.set_fill_color(*TILE)
            self.rect(x, y, width, height, style="F", round_corners=True, corner_radius=2)
            self.set_xy(x + 4, y + 2.5)
            self.set_font("DejaVu", "", 7)
            self.set_text_color(*MUTED)
            self.cell(width - 8, 4, label.upper())
            self.set_xy(x + 4, y + 7.5)
            self.set_font("DejaVu", "B", 12)
            self.set_text_color(*INK)
            self.cell(width - 8, 7, value)
        rows = -(-len(figures) // FIGURES_PER_ROW)
        self.set_xy(self.l_margin, top + rows * (height + gap) + 3)

    def grid(self, header: list[str], rows: list[list[str]]) -> None:
        self.set_font("DejaVu", "", 8)
        self.set_text_color(*INK)
        heading = FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=ACCENT)
        with self.table(
            headings_style=heading,
            cell_fill_color=TILE,
            cell_fill_mode="ROWS",
            line_height=5,
            text_align=["LEFT", *["RIGHT"] * (len(header) - 1)],
            borders_layout="NONE",
        ) as table:
            for values in [header, *rows]:
                row = table.row()
                for value in values:
                    row.cell(value)


def render_report(summary: Summary, path: Path) -> None:
    pdf = SwitchboardPdf(f"{summary.title} · {period_text(summary.period_from, summary.period_to)}")
    pdf.add_page()
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = (
        f"Period {period_text(summary.period_from, summary.period_to)} · generated {generated}"
    )
    pdf.heading(summary.title, subtitle)
    pdf.section("Key figures")
    pdf.tiles(summary.figures)
    for chart in summary.charts:
        image = io.BytesIO(charts.png(chart))
        pdf.image(image, w=pdf.epw, title=chart.title, alt_text=chart.title)
        pdf.ln(3)
    if pdf.will_page_break(60):  # the table's header and first rows together
        pdf.add_page()
    pdf.section("Daily breakdown")
    pdf.grid(summary.table_header, summary.table_rows)
    pdf.output(str(path))
