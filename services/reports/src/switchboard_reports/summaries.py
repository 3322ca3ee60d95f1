"""The key figures, charts and daily table of each report kind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from .facts import LATENCY_BUCKETS_MS
from .kinds import KINDS
from .readmodel import FactKey
from .summary import Chart, Facts, Summary, major, money, percent, seconds

MAX_CURRENCIES = 4


def _sales(f: Facts, s: Summary) -> None:
    currencies = f.keys("revenue")[:MAX_CURRENCIES] or ["usd"]
    for cur in currencies:
        gross, refunded = f.total("revenue", cur), f.total("refunds", cur)
        s.figures += [
            (f"Revenue ({cur.upper()})", money(gross, cur)),
            (f"Refunds ({cur.upper()})", money(refunded, cur)),
            (f"Net ({cur.upper()})", money(gross - refunded, cur)),
        ]
    paid = f.total("payments_succeeded")
    s.figures += [("Payments", f"{paid:,}"), ("Refunded payments", f"{f.total('refunds_count'):,}")]
    revenue_series = _money_series(f, "revenue", currencies)
    s.charts.append(Chart("Revenue per day", f.labels, revenue_series, "amount", "lines"))
    refund_series = _money_series(f, "refunds", currencies)
    s.charts.append(Chart("Refunds per day", f.labels, refund_series, "amount"))
    s.table_header = [
        "Day",
        "Payments",
        *[f"Revenue {c.upper()}" for c in currencies],
        "Refunds (count)",
    ]
    paid_daily, refunds_daily = f.daily("payments_succeeded"), f.daily("refunds_count")
    daily_revenue = {c: f.daily("revenue", c) for c in currencies}
    for i, label in enumerate(f.labels):
        amounts = [money(daily_revenue[c][i], c) for c in currencies]
        s.table_rows.append([label, str(paid_daily[i]), *amounts, str(refunds_daily[i])])


def _money_series(f: Facts, metric: str, currencies: list[str]) -> dict[str, list[float]]:
    return {c.upper(): [major(v, c) for v in f.daily(metric, c)] for c in currencies}


def _orders(f: Facts, s: Summary) -> None:
    placed, matched = f.total("orders_placed"), f.total("orders_matched")
    unmatched, cancelled = f.total("orders_unmatched"), f.total("orders_cancelled")
    count, total_ms = f.total("match_latency_count"), f.total("match_latency_ms")
    s.figures += [
        ("Orders placed", f"{placed:,}"),
        ("Matched", f"{matched:,}"),
        ("Unmatched", f"{unmatched:,}"),
        ("Cancelled", f"{cancelled:,}"),
        ("Match rate", percent(matched, placed)),
        ("Avg match latency", seconds(total_ms / count) if count else "n/a"),
        ("p95 match latency", _p95(f.by_key("match_latency_bucket"))),
    ]
    series = {
        k: f.daily(m)
        for k, m in (
            ("placed", "orders_placed"),
            ("matched", "orders_matched"),
            ("unmatched", "orders_unmatched"),
        )
    }
    s.charts.append(
        Chart(
            "Orders per day",
            f.labels,
            {k: [float(v) for v in vs] for k, vs in series.items()},
            "orders",
        )
    )
    daily_ms, daily_n = f.daily("match_latency_ms"), f.daily("match_latency_count")
    avg = [ms / n / 1000 if n else 0.0 for ms, n in zip(daily_ms, daily_n, strict=True)]
    s.charts.append(
        Chart("Average match latency per day", f.labels, {"seconds": avg}, "seconds", "lines")
    )
    s.table_header = ["Day", "Placed", "Matched", "Unmatched", "Cancelled", "Avg latency"]
    cancelled_daily = f.daily("orders_cancelled")
    for i, label in enumerate(f.labels):
        latency = seconds(daily_ms[i] / daily_n[i]) if daily_n[i] else "-"
        counts = [
            series["placed"][i],
            series["matched"][i],
            series["unmatched"][i],
            cancelled_daily[i],
        ]
        s.table_rows.append([label, *map(str, counts), latency])


def _payments(f: Facts, s: Summary) -> None:
    ok, failed = f.total("payments_succeeded"), f.total("payments_failed")
    reasons = f.by_key("payments_failed")
    top = f.keys("payments_failed")[:8]
    s.figures += [
        ("Payments succeeded", f"{ok:,}"),
        ("Payments failed", f"{failed:,}"),
        ("Success rate", percent(ok, ok + failed)),
        ("Refunds", f"{f.total('refunds_count'):,}"),
        ("Top failure reason", top[0] if top else "none"),
    ]
    ok_daily, failed_daily = f.daily("payments_succeeded"), f.daily("payments_failed")
    s.charts.append(
        Chart(
            "Payments per day",
            f.labels,
            {"succeeded": list(map(float, ok_daily)), "failed": list(map(float, failed_daily))},
            "payments",
        )
    )
    s.charts.append(
        Chart(
            "Failure reasons",
            top,
            {"failures": [float(reasons[r]) for r in top]},
            "payments",
            "barh",
        )
    )
    s.table_header = ["Day", "Succeeded", "Failed", "Success rate", "Refunds"]
    refunds = f.daily("refunds_count")
    for i, label in enumerate(f.labels):
        rate = percent(ok_daily[i], ok_daily[i] + failed_daily[i])
        s.table_rows.append([label, str(ok_daily[i]), str(failed_daily[i]), rate, str(refunds[i])])


def _operations(f: Facts, s: Summary) -> None:
    sent, bounced = f.total("emails_sent"), f.total("emails_bounced")
    hooks_ok, hooks_failed = f.total("webhooks_delivered"), f.total("webhooks_failed")
    s.figures += [
        ("Emails sent", f"{sent:,}"),
        ("Emails bounced", f"{bounced:,}"),
        ("Bounce rate", percent(bounced, sent)),  # a bounce follows its send
        ("Webhooks delivered", f"{hooks_ok:,}"),
        ("Webhooks failed", f"{hooks_failed:,}"),
        ("Webhook success rate", percent(hooks_ok, hooks_ok + hooks_failed)),
        ("SMS delivered", f"{f.total('sms_delivered'):,}"),
    ]
    sent_d, bounced_d = f.daily("emails_sent"), f.daily("emails_bounced")
    ok_d, failed_d = f.daily("webhooks_delivered"), f.daily("webhooks_failed")
    s.charts.append(
        Chart(
            "Emails per day",
            f.labels,
            {"sent": list(map(float, sent_d)), "bounced": list(map(float, bounced_d))},
            "emails",
        )
    )
    rate = [
        100 * ok / (ok + bad) if ok + bad else 0.0 for ok, bad in zip(ok_d, failed_d, strict=True)
    ]
    s.charts.append(
        Chart("Webhook success rate per day", f.labels, {"success %": rate}, "%", "lines")
    )
    s.table_header = ["Day", "Emails sent", "Bounced", "Webhooks ok", "Webhooks failed", "Success"]
    for i, label in enumerate(f.labels):
        cells = [sent_d[i], bounced_d[i], ok_d[i], failed_d[i]]
        s.table_rows.append([label, *map(str, cells), percent(ok_d[i], ok_d[i] + failed_d[i])])


BUILDERS: dict[str, Callable[[Facts, Summary], None]] = {
    "sales": _sales,
    "orders": _orders,
    "payments": _payments,
    "operations": _operations,
}


def _p95(buckets: dict[str, int]) -> str:
    """The histogram bucket holding the 95th percentile, as "≤ bound"."""
    total, seen = sum(buckets.values()), 0
    for bound in LATENCY_BUCKETS_MS:
        seen += buckets.get(f"le_{bound}", 0)
        if total and seen >= 0.95 * total:
            return f"≤ {seconds(bound)}"
    return "> 1 day" if total else "n/a"


def build_summary(kind: str, facts: dict[FactKey, int], start: date, end: date) -> Summary:
    summary = Summary(kind, KINDS[kind].title, start, end)
    BUILDERS[kind](Facts(facts, start, end), summary)
    return summary
