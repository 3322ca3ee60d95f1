"""Each report kind in each format, generated from a seeded event history and read back."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from reports_history import DAYS, START, ReportsDb, history, reports_db
from sqlalchemy import select
from switchboard_reports.config import ReportsSettings
from switchboard_reports.errors import ReportTooLarge
from switchboard_reports.generation import generate_report
from switchboard_reports.kinds import KINDS
from switchboard_reports.models import DailyFact, Report
from switchboard_shared import progress
from switchboard_shared.contracts.reports import REPORT_FORMATS, REPORT_KINDS, GenerateReport
from switchboard_shared.records import OutboxMessage

END = START + timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportsDb]:
    folder = tmp_path_factory.mktemp("reports")
    db = reports_db(f"sqlite:///{folder / 'reports.db'}", folder / "store")
    db.deliver(history())
    yield db
    db.engine.dispose()


def generate(db: ReportsDb, kind: str, fmt: str, steps: list[Any] | None = None) -> dict[str, Any]:
    command = GenerateReport(
        report_id=f"rep-{kind}-{fmt}",
        kind=kind,
        format=fmt,
        period_from=START,
        period_to=END,  # type: ignore[arg-type]
    )
    sink = (lambda percent, step: steps.append((percent, step))) if steps is not None else None
    with db.uow() as uow, progress.reporting_to(sink or (lambda p, s: None)):
        return generate_report(command, uow, db.reporter())


def path_of(result: dict[str, Any]) -> Path:
    return Path(result["location"].removeprefix("file://"))


def totals(db: ReportsDb, metric: str) -> Counter[str]:
    with db.sessions() as session:
        facts = session.query(DailyFact).filter(DailyFact.metric == metric).all()
    counted: Counter[str] = Counter()
    for fact in facts:
        counted[fact.key] += fact.value
    return counted


def expected_rows(db: ReportsDb, kind: str) -> int:
    return db.reporter().reader.count_rows(KINDS[kind], START, END)


@pytest.mark.parametrize("kind", REPORT_KINDS)
@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_tabular_reports_carry_every_row(seeded: ReportsDb, kind: str, fmt: str) -> None:
    result = generate(seeded, kind, fmt)
    assert result["status"] == "generated"
    rows = expected_rows(seeded, kind)
    assert rows > 50 and result["rows"] == rows
    path = path_of(result)
    assert path.stat().st_size == result["size"]
    if fmt == "csv":
        with path.open(newline="") as handle:
            read = list(csv.DictReader(handle))
    elif fmt == "json":
        document = json.loads(path.read_text())
        assert document["report"]["kind"] == kind
        read = document["rows"]
    else:
        sheet = load_workbook(path, read_only=True).worksheets[0]
        values = list(sheet.iter_rows(values_only=True))
        assert list(values[0]) == KINDS[kind].columns
        read = [dict(zip(KINDS[kind].columns, row, strict=True)) for row in values[1:]]
    assert len(read) == rows
    assert list(read[0]) == KINDS[kind].columns


def sums(rows: list[dict[str, Any]], event: str, key_column: str) -> Counter[str]:
    counted: Counter[str] = Counter()
    for row in rows:
        if row["event"] == event:
            counted[row[key_column]] += int(row["amount_minor"])
    return counted


def test_sales_csv_and_json_round_trip_to_the_read_model(seeded: ReportsDb) -> None:
    with path_of(generate(seeded, "sales", "csv")).open(newline="") as handle:
        from_csv = list(csv.DictReader(handle))
    from_json = json.loads(path_of(generate(seeded, "sales", "json")).read_text())["rows"]
    revenue, refunds = totals(seeded, "revenue"), totals(seeded, "refunds")
    assert revenue and refunds
    for rows in (from_csv, from_json):
        assert sums(rows, "payment-succeeded", "currency") == revenue
        assert sums(rows, "payment-refunded", "currency") == refunds


def test_payments_rows_count_failures_by_reason_as_the_read_model(seeded: ReportsDb) -> None:
    rows = json.loads(path_of(generate(seeded, "payments", "json")).read_text())["rows"]
    reasons = Counter(r["currency_or_reason"] for r in rows if r["event"] == "payment-failed")
    assert reasons == totals(seeded, "payments_failed")


@pytest.mark.parametrize("kind", REPORT_KINDS)
def test_pdf_report_has_title_period_figures_and_chart_images(seeded: ReportsDb, kind: str) -> None:
    steps: list[Any] = []
    result = generate(seeded, kind, "pdf", steps)
    reader = PdfReader(path_of(result))
    first = reader.pages[0].extract_text()
    assert KINDS[kind].title in first
    assert "2 Nov 2026 – 8 Nov 2026" in first
    assert "Key figures" in first
    images = [name for name in reader.pages[0].images]
    assert len(images) >= 2, "two charts on the first page"
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Daily breakdown" in text and "2026-11-08" in text  # the table's last day
    assert [percent for percent, _ in steps] == sorted(percent for percent, _ in steps)
    assert steps[-1] == (100.0, "done")


def test_sales_pdf_shows_the_revenue_of_the_read_model(seeded: ReportsDb) -> None:
    text = PdfReader(path_of(generate(seeded, "sales", "pdf"))).pages[0].extract_text()
    usd = totals(seeded, "revenue")["usd"]
    assert f"USD {usd / 100:,.2f}" in text


@pytest.mark.parametrize("kind", REPORT_KINDS)
def test_html_report_inlines_svg_charts(seeded: ReportsDb, kind: str) -> None:
    page = path_of(generate(seeded, kind, "html")).read_text()
    assert page.count("<svg") >= 2
    assert f"<h1>{KINDS[kind].title}</h1>" in page
    assert "Daily breakdown" in page
    assert "<?xml" not in page


def test_every_kind_and_format_is_covered() -> None:
    assert set(REPORT_FORMATS) == {"pdf", "html", "csv", "json", "xlsx"}
    assert set(REPORT_KINDS) == set(KINDS)


@pytest.mark.parametrize("fmt", ["csv", "pdf"])
def test_a_report_over_the_size_cap_fails_with_report_failed(seeded: ReportsDb, fmt: str) -> None:
    reporter = seeded.reporter()
    reporter.settings = ReportsSettings(max_file_bytes=2_000)
    command = GenerateReport(
        report_id=f"rep-big-{fmt}",
        kind="orders",
        format=fmt,
        period_from=START,
        period_to=END,  # type: ignore[arg-type]
    )
    with seeded.uow() as uow, pytest.raises(ReportTooLarge, match="file-size cap"):
        generate_report(command, uow, reporter)
    with seeded.sessions() as session:
        report = session.get(Report, f"rep-big-{fmt}")
        events = session.scalars(
            select(OutboxMessage).where(OutboxMessage.event_type == "report-failed")
        ).all()
    assert (
        report is not None and report.status == "failed" and "cap 2,000 bytes" in str(report.error)
    )
    assert [e.envelope["data"]["report_id"] for e in events].count(f"rep-big-{fmt}") == 1
    assert not list(seeded.storage_dir.glob(f"**/rep-big-{fmt}*")), "nothing stored"
