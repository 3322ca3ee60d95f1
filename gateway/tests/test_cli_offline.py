"""`switchboard` against an in-memory gateway (httpx.MockTransport), in addition to the live
tests: exit codes for every kind of answer, key resolution, report rendering, confirmations."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_support import Run, run_cli
from switchboard_gateway.cli import follow
from switchboard_gateway.cli.report import ReportFormat, render, trend_bars
from switchboard_gateway.cli.state import State

Handler = Callable[[httpx.Request], httpx.Response]
SERVICE = {
    "name": "orders",
    "status": "up",
    "workers_online": 1,
    "workers": ["orders@h"],
    "last_heartbeat": 1.0,
    "queues": [{"name": "orders.normal", "service": "orders", "depth": 7}],
    "active_tasks": 0,
    "success_rate": 0.5,
    "flower_url": "http://127.0.0.1:5553",
}
METRIC = {
    "name": "orders.diagnose",
    "service": "orders",
    "total": 4,
    "by_state": {"succeeded": 3, "dead_lettered": 1},
    "success_rate": 0.75,
    "runtime": {"p50": 0.2, "p95": 1.5, "p99": 2.0, "avg": 0.5},
    "retries": 2,
}


def error(status: int, message: str, details: list[dict[str, str]] | None = None) -> httpx.Response:
    body = {"error": {"code": "x", "message": message, "details": details or []}}
    return httpx.Response(status, json=body)


def platform(ready: int = 200, alerts: list[dict[str, Any]] | None = None) -> Handler:
    answers: dict[str, httpx.Response] = {
        "/api/v1/health/ready": httpx.Response(
            ready, json={"status": "x", "missing": [] if ready == 200 else ["worker of email"]}
        ),
        "/api/v1/metrics": httpx.Response(200, json={"hours": 24, "items": [METRIC]}),
        "/api/v1/alerts": httpx.Response(200, json={"items": alerts or [], "total": 0}),
        "/api/v1/services": httpx.Response(200, json={"items": [SERVICE]}),
    }
    return lambda request: answers[request.url.path]


def cli(handler: Handler, *args: str, stdin: str = "", key: str | None = "k") -> Run:
    state = State(transport=httpx.MockTransport(handler))
    return run_cli(
        ["--url", "http://gw", *(["--api-key", key] if key else []), *args], stdin, state
    )


def test_status_exits_0_when_ready_without_alerts() -> None:
    run = cli(platform(), "status")

    assert run.code == 0
    assert "Platform: ready" in run.out and "75.0%" in run.out and "No active alerts" in run.out


def test_status_exits_1_when_a_worker_is_missing_or_an_alert_is_active() -> None:
    alert = {"rule": "queue_backlog", "subject": "orders.normal", "message": "1200 waiting"}

    missing = cli(platform(ready=503), "status", "--json")
    alerting = cli(platform(alerts=[alert]), "status")

    assert missing.code == 1 and missing.json()["healthy"] is False
    assert missing.json()["ready"]["missing"] == ["worker of email"]
    assert alerting.code == 1 and "1200 waiting" in alerting.out


@pytest.mark.parametrize(
    ("answer", "code", "text"),
    [
        (error(401, "Missing or invalid API key"), 4, "SWITCHBOARD_API_KEY"),
        (error(403, "This action needs an admin API key"), 4, "admin"),
        (
            error(422, "Request validation failed", [{"field": "args.steps", "message": "≥ 1"}]),
            2,
            "args.steps: ≥ 1",
        ),
        (error(413, "Payload too large"), 2, "413"),
        (error(404, "No task t1"), 1, "No task t1"),
        (error(503, "The broker is unavailable"), 1, "broker"),
        (httpx.Response(500, text="<html>proxy error</html>"), 1, "proxy error"),
    ],
)
def test_each_kind_of_answer_has_its_exit_code(
    answer: httpx.Response, code: int, text: str
) -> None:
    run = cli(lambda request: answer, "tasks", "show", "t1")

    assert run.code == code
    assert text in run.err


def test_an_unreachable_gateway_exits_3() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    run = cli(refuse, "queues")

    assert run.code == 3 and "unreachable" in run.err


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SWITCHBOARD_API_KEY": "one", "SWITCHBOARD_API_KEYS": "two,three"}, "one"),
        ({"SWITCHBOARD_API_KEYS": " ,two,three"}, "two"),
        ({}, "from-file"),
    ],
)
def test_the_key_comes_from_env_then_the_gateways_keys_then_the_key_file(
    env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("SWITCHBOARD_API_KEY", "SWITCHBOARD_API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    (tmp_path / "api-key").write_text("from-file\n")
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"items": []})

    assert cli(record, "workers", key=None).code == 0
    assert seen == [f"Bearer {expected}"]


def test_declining_a_purge_sends_nothing() -> None:
    sent: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return httpx.Response(200, json={"queue": "q", "purged": 2})

    declined = cli(record, "purge", "--queue", "orders.normal", stdin="n\n")
    confirmed = cli(record, "purge", "--queue", "orders.normal", stdin="y\n")

    assert declined.code == 1 and "nothing changed" in declined.out
    assert confirmed.code == 0 and "purged 2 message(s)" in confirmed.out
    assert sent == ["POST"]


def test_bad_options_are_usage_errors_without_a_request() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    assert cli(fail, "tasks", "list", "--since", "yesterday").code == 2
    assert cli(fail, "submit", "orders.diagnose", "--args", "[1, 2]").code == 2
    assert cli(fail, "status", "--hours", "0").code == 2
    assert cli(fail, "report", "--output", "x.pdf").code == 2


def test_watch_waits_for_a_task_the_ledger_does_not_know_yet_and_times_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(follow, "UNKNOWN_GRACE_SECONDS", 0.3)
    answers = iter([error(404, "No task t1"), error(404, "No task t1")])
    running = {"task_id": "t1", "state": "running", "progress": 40.0, "name": "x"}

    def ledger(request: httpx.Request) -> httpx.Response:
        return next(answers, httpx.Response(200, json=running))

    run = cli(ledger, "watch", "t1", "--interval", "0.05", "--timeout", "0.5", "--json")

    assert run.code == 1 and "still running" in run.err
    assert run.lines() == [running]


def test_reports_escape_what_they_show_and_scale_the_trend_bars() -> None:
    data = {
        "generated_at": "2026-11-26T12:00:00+00:00",
        "hours": 24,
        "healthy": False,
        "ready": {"missing": ["worker of email"]},
        "services": [SERVICE],
        "totals": {"tasks": 4, "succeeded": 3, "failed": 1, "retries": 2, "success_rate": 0.75},
        "metrics": [METRIC],
        "alerts": [],
        "failures": {
            "total": 1,
            "by_classification": {"validation": 1},
            "items": [
                {
                    "classification": "validation",
                    "name": "orders.diagnose",
                    "count": 1,
                    "last_error": {"type": "ValueError", "message": "<script>x</script>"},
                }
            ],
        },
        "trends": {
            "bucket": "1h",
            "items": [
                {"start": "2026-11-26T10:00:00", "total": 4, "succeeded": 3, "failed": 1},
                {"start": "2026-11-26T11:00:00", "total": 2, "succeeded": 2, "failed": 0},
            ],
        },
        "queues": SERVICE["queues"],
        "dead_letters": {"total": 0, "items": []},
    }

    html = render(data, ReportFormat.html)
    markdown = render(data, ReportFormat.md)
    bars = trend_bars(data["trends"]["items"])  # type: ignore[index]

    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "NOT healthy" in html and "worker of email" in html
    assert "| orders.diagnose | orders | 4 | 75.0% | 200 ms | 1.50 s | 2.00 s | 2 |" in markdown
    assert "| orders | up | 1 | 0 | 50.0% | 7 |" in markdown
    assert bars[0]["ok_h"] + bars[0]["bad_h"] == 120 and bars[1]["ok_h"] == 60
    assert json.loads(render(data, ReportFormat.json))["totals"]["tasks"] == 4


def test_text_from_the_gateway_is_shown_literally_never_as_markup() -> None:
    failed = {
        "task_id": "t1",
        "name": "orders.diagnose",
        "state": "failed",
        "progress": 10,
        "error": {"type": "KeyError", "message": "row [/] [bold]x", "classification": "unknown"},
    }
    task = cli(lambda request: httpx.Response(200, json=failed), "tasks", "show", "t1")
    listed = cli(lambda request: httpx.Response(200, json={"items": [failed]}), "tasks", "list")

    assert task.code == listed.code == 0, task.err
    assert "KeyError: row [/] [bold]x" in task.out
