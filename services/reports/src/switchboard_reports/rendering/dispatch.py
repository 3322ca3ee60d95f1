"""Which renderer makes which format, with progress reported along the way."""

from __future__ import annotations

from pathlib import Path

from switchboard_shared import progress
from switchboard_shared.contracts.reports import GenerateReport

from ..kinds import KINDS
from ..readmodel import FactReader
from ..summaries import build_summary
from . import tabular

ROWS_START, ROWS_END = 5.0, 90.0


def ticker(total: int) -> tabular.Tick:
    """Progress from rows written, reported at most once per percent."""
    last = [-1.0]

    def tick(done: int) -> None:
        percent = ROWS_START + (ROWS_END - ROWS_START) * done / max(total, 1)
        if percent - last[0] >= 1.0 or done >= total:
            last[0] = percent
            progress.report(percent, f"writing rows ({done:,} of {total:,})")

    return tick


def render_document(command: GenerateReport, reader: FactReader, path: Path) -> None:
    progress.report(10, "summarising the period")
    facts = reader.daily_facts(command.period_from, command.period_to)
    summary = build_summary(command.kind, facts, command.period_from, command.period_to)
    progress.report(40, "drawing charts")
    if command.format == "pdf":
        from . import pdf

        pdf.render_report(summary, path)
    else:
        from . import html

        html.render_report(summary, path)


def render(command: GenerateReport, reader: FactReader, path: Path, cap: int) -> int:
    """Write the report to `path`; returns the number of event rows it covers."""
    spec = KINDS[command.kind]
    progress.report(2, "counting rows")
    total = reader.count_rows(spec, command.period_from, command.period_to)
    if command.format in ("pdf", "html"):
        render_document(command, reader, path)
        tabular.guard(path.stat().st_size, cap)
        return total
    batches = reader.rows(spec, command.period_from, command.period_to)
    tick = ticker(total)
    if command.format == "csv":
        return tabular.write_csv(path, spec.columns, batches, cap, tick)
    if command.format == "xlsx":
        return tabular.write_xlsx(path, spec.columns, batches, cap, tick)
    meta = {
        "kind": command.kind,
        "period": {"from": command.period_from.isoformat(), "to": command.period_to.isoformat()},
        "report_id": command.report_id,
    }
    return tabular.write_json(path, spec.columns, batches, cap, tick, meta)
