"""What a person reads first: key figures, charts and a daily table, built from the daily facts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from .readmodel import FactKey

ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd"}
ChartStyle = Literal["bars", "lines", "barh"]


@dataclass
class Chart:
    title: str
    labels: list[str]  # x axis (days) or categories (barh)
    series: dict[str, list[float]]
    y_label: str = ""
    style: ChartStyle = "bars"


@dataclass
class Summary:
    kind: str
    title: str
    period_from: date
    period_to: date
    figures: list[tuple[str, str]] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    table_header: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)


def major(amount: float, currency: str) -> float:
    return amount if currency.lower() in ZERO_DECIMAL else amount / 100


def money(amount: float, currency: str) -> str:
    value = major(amount, currency)
    digits = 0 if currency.lower() in ZERO_DECIMAL else 2
    return f"{currency.upper()} {value:,.{digits}f}"


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def seconds(milliseconds: float) -> str:
    if milliseconds >= 60_000:
        return f"{milliseconds / 60_000:.1f} min"
    return f"{milliseconds / 1000:.1f} s"


class Facts:
    """The daily facts of a period, with zero-filled days, summed the ways the reports need."""

    def __init__(self, facts: dict[FactKey, int], start: date, end: date) -> None:
        self.start, self.end = start, end
        self.days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        self._by_metric: dict[str, dict[tuple[date, str], int]] = defaultdict(dict)
        for (day, metric, key), value in facts.items():
            self._by_metric[metric][(day, key)] = value

    @property
    def labels(self) -> list[str]:
        return [day.isoformat() for day in self.days]

    def keys(self, metric: str) -> list[str]:
        """The metric's keys (currencies, reasons), largest total first."""
        totals = self.by_key(metric)
        return sorted(totals, key=lambda key: (-totals[key], key))

    def by_key(self, metric: str) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for (_, key), value in self._by_metric[metric].items():
            totals[key] += value
        return dict(totals)

    def total(self, metric: str, key: str | None = None) -> int:
        return sum(v for (_, k), v in self._by_metric[metric].items() if key is None or k == key)

    def daily(self, metric: str, key: str | None = None) -> list[int]:
        values = self._by_metric[metric]
        if key is not None:
            return [values.get((day, key), 0) for day in self.days]
        per_day: dict[date, int] = defaultdict(int)
        for (day, _), value in values.items():
            per_day[day] += value
        return [per_day.get(day, 0) for day in self.days]
