"""Rows to CSV, JSON and XLSX, streamed batch by batch: memory stays flat however many rows.

Report rows carry text that customers and providers chose (an order's category, a decline
reason), so no cell may become a live formula when the file is opened: CSV text cells that a
spreadsheet program would evaluate get a leading `'` (OWASP's advice), and XLSX text cells are
always written as text. Numbers stay numbers, negative ones included. XML cannot carry most
control characters, so in XLSX each becomes U+FFFD: one `\x01` in a category would otherwise
fail the whole report.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Container, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import ReportTooLarge

Batches = Iterable[Sequence[Sequence[Any]]]
Tick = Callable[[int], None]  # rows written so far
XLSX_SHEET_ROWS = 1_048_575  # Excel's limit is 1,048,576 rows per sheet, the header included
FORMULA_TRIGGERS = frozenset("=+-@\t\r")  # a text cell starting so is evaluated by Excel and co
REPLACEMENT = "\ufffd"


def guard(size: int, cap: int) -> None:
    if size > cap:
        raise ReportTooLarge(size, cap)


def inert_csv_row(row: Sequence[Any]) -> list[Any]:
    """The row with every text cell a spreadsheet would run as a formula quoted as text."""
    return [
        "'" + value if isinstance(value, str) and value[:1] in FORMULA_TRIGGERS else value
        for value in row
    ]


def write_csv(path: Path, columns: list[str], batches: Batches, cap: int, tick: Tick) -> int:
    written = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for batch in batches:
            writer.writerows(inert_csv_row(row) for row in batch)
            written += len(batch)
            guard(out.tell(), cap)
            tick(written)
    return written


def _json_rows(out: IO[str], columns: list[str], batches: Batches, cap: int, tick: Tick) -> int:
    written, separator = 0, "\n"
    for batch in batches:
        out.write(separator)
        out.write(",\n".join(json.dumps(dict(zip(columns, row, strict=True))) for row in batch))
        separator = ",\n"
        written += len(batch)
        guard(out.tell(), cap)
        tick(written)
    return written


def write_json(
    path: Path, columns: list[str], batches: Batches, cap: int, tick: Tick, meta: dict[str, Any]
) -> int:
    """`{"report": {...}, "columns": [...], "rows": [{...}, ...]}`, written row batch by batch."""
    with path.open("w", encoding="utf-8") as out:
        out.write(f'{{"report": {json.dumps(meta)}, "columns": {json.dumps(columns)}, "rows": [')
        written = _json_rows(out, columns, batches, cap, tick)
        out.write("\n]}\n")
    return written


def text_cell(sheet: Any, value: str) -> Any:
    """A cell that holds `value` as text, even when it looks like a formula or an error."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    return cell


def xlsx_cell(sheet: Any, value: Any, errors: Container[str], illegal: re.Pattern[str]) -> Any:
    """openpyxl refuses the control characters `illegal` matches (IllegalCharacterError): they
    become U+FFFD. It writes a text starting with `=` as a formula and one of `errors` (`#N/A`,
    …) as an error value: those become text cells."""
    if not isinstance(value, str):
        return value
    value = illegal.sub(REPLACEMENT, value)
    return text_cell(sheet, value) if value[:1] == "=" or value in errors else value


def inert_xlsx_row(
    sheet: Any, row: Sequence[Any], errors: Container[str], illegal: re.Pattern[str]
) -> list[Any]:
    return [xlsx_cell(sheet, value, errors, illegal) for value in row]


def write_xlsx(path: Path, columns: list[str], batches: Batches, cap: int, tick: Tick) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet: Any = None
    in_sheet = written = 0
    for batch in batches:
        for row in batch:
            if sheet is None or in_sheet == XLSX_SHEET_ROWS:
                sheet = workbook.create_sheet(f"rows {len(workbook.worksheets) + 1}")
                sheet.freeze_panes = "A2"
                for letter, width in zip("ABCDEFG", (22, 18, 36, 22, 14, 12, 36), strict=True):
                    sheet.column_dimensions[letter].width = width
                header = [WriteOnlyCell(sheet, value=name) for name in columns]
                for cell in header:
                    cell.font = Font(bold=True)
                sheet.append(header)
                in_sheet = 0
            sheet.append(inert_xlsx_row(sheet, row, ERROR_CODES, ILLEGAL_CHARACTERS_RE))
            in_sheet += 1
        written += len(batch)
        tick(written)
    if sheet is None:
        workbook.create_sheet("rows 1").append(columns)
    workbook.save(str(path))
    guard(path.stat().st_size, cap)
    return written
