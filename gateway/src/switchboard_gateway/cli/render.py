"""Output: rich tables for people, plain JSON (`--json`) for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[dict[str, Any]], Any] | str
    justify: str = "left"
    whole: bool = False  # never shortened: ids people copy, times

    def cell(self, row: dict[str, Any]) -> str:
        """A field's value is shown as it is; a function's result may carry rich markup."""
        if callable(self.value):
            value = self.value(row)
            return "-" if value is None or value == "" else str(value)
        value = row.get(self.value)
        return "-" if value is None or value == "" else escape(str(value))


def table(title: str, columns: Sequence[Column], rows: Iterable[dict[str, Any]]) -> Table:
    cells = [[column.cell(row) for column in columns] for row in rows]
    grid = Table(title=title, title_justify="left", header_style="bold")
    for index, column in enumerate(columns):
        widest = max((len(Text.from_markup(line[index])) for line in cells), default=0)
        grid.add_column(
            column.header,
            justify=column.justify,  # type: ignore[arg-type]
            no_wrap=column.whole,
            min_width=widest if column.whole else None,
        )
    for line in cells:
        grid.add_row(*line)
    return grid


def show(title: str, columns: Sequence[Column], rows: Iterable[dict[str, Any]]) -> None:
    console.print(table(title, columns, rows))


def fields_grid(fields: Iterable[tuple[str, Any]]) -> Table:
    """Label / value rows, for one task or one dead letter; values are text, not markup."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in fields:
        if isinstance(value, Text):
            grid.add_row(label, value)
        else:
            grid.add_row(label, "-" if value is None or value == "" else escape(str(value)))
    return grid


def emit(answer: Any, json_output: bool, view: Callable[[Any], RenderableType]) -> None:
    """The gateway's answer as JSON (`--json`) or as `view` draws it."""
    if json_output:
        print_json(answer)
    else:
        console.print(view(answer))


def emit_rows(answer: Any, json_output: bool, title: str, columns: Sequence[Column]) -> None:
    emit(answer, json_output, lambda page: table(title, columns, items_of(page)))


def items_of(page: Any) -> list[dict[str, Any]]:
    """The rows of a list answer: `{"items": [...]}` or a bare list."""
    if isinstance(page, dict):
        rows = page.get("items", [])
        return list(rows) if isinstance(rows, list) else []
    return list(page) if isinstance(page, list) else []


def percent(rate: Any) -> str | None:
    """A success rate as a percentage; rates up to 1.0 are fractions."""
    if rate is None:
        return None
    value = float(rate)
    return f"{value * 100 if value <= 1 else value:.1f}%"


def seconds(value: Any) -> str | None:
    if value is None:
        return None
    number = float(value)
    return f"{number * 1000:.0f} ms" if number < 1 else f"{number:.2f} s"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 string or epoch seconds (heartbeats), as an aware datetime."""
    if not value:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def ago(value: Any) -> str | None:
    when = parse_time(value)
    if when is None:
        return None if value is None else str(value)
    delta = (datetime.now(UTC) - when).total_seconds()
    if delta < 120:
        return f"{delta:.0f}s ago"
    if delta < 7200:
        return f"{delta / 60:.0f}m ago"
    return when.strftime("%Y-%m-%d %H:%M:%SZ")


def short_time(value: Any) -> str | None:
    """`HH:MM:SS` today (UTC), else `MM-DD HH:MM`."""
    when = parse_time(value)
    if when is None:
        return None
    today = when.date() == datetime.now(UTC).date()
    return when.strftime("%H:%M:%S" if today else "%m-%d %H:%M")
