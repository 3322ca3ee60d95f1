"""`switchboard tasks list|show|cancel`: the gateway's task ledger."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from switchboard_gateway.cli.render import (
    Column,
    console,
    emit,
    fields_grid,
    items_of,
    print_json,
    seconds,
    short_time,
    show,
)
from switchboard_gateway.cli.state import JsonOption, client_of

tasks_app = typer.Typer(help="The task ledger: every task of every service.", no_args_is_help=True)


class TaskState(StrEnum):
    pending = "pending"
    received = "received"
    running = "running"
    retrying = "retrying"
    succeeded = "succeeded"
    failed = "failed"
    revoked = "revoked"
    dead_lettered = "dead_lettered"


TERMINAL_STATES = {
    TaskState.succeeded,
    TaskState.failed,
    TaskState.revoked,
    TaskState.dead_lettered,
}
STATE_STYLE = {"succeeded": "green", "failed": "red", "dead_lettered": "red", "revoked": "yellow"}
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def styled_state(row: dict[str, Any]) -> str:
    state = escape(str(row.get("state") or "-"))
    style = STATE_STYLE.get(state, "cyan")
    return f"[{style}]{state}[/{style}]"


def progress_cell(row: dict[str, Any]) -> str:
    return f"{float(row.get('progress') or 0):.0f}%"


TASK_COLUMNS = [
    Column("task id", "task_id", whole=True),
    Column("name", "name", whole=True),  # starts with its service
    Column("state", styled_state, whole=True),
    Column("progress", progress_cell, "right"),
    Column("retries", "retries", "right"),
    Column("created", lambda row: short_time(row.get("created_at")), whole=True),
]


def since_param(value: str | None) -> str | None:
    """`2h`, `30m`, `15s`, `1d` before now, or an RFC 3339 time, as RFC 3339 UTC."""
    if value is None:
        return None
    if match := _RELATIVE.match(value.strip()):
        delta = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        return (datetime.now(UTC) - delta).isoformat()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter("use 30m, 2h, 1d or an RFC 3339 time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


StateOption = Annotated[TaskState | None, typer.Option(help="Only tasks in this state.")]
ServiceOption = Annotated[str | None, typer.Option(help="Only this service's tasks.")]
NameOption = Annotated[str | None, typer.Option(help="Only tasks of this name.")]
SinceOption = Annotated[str | None, typer.Option(help="Created after: 30m, 2h, 1d or a time.")]


def task_filter(
    state: TaskState | None, service: str | None, name: str | None, since: str | None
) -> dict[str, Any]:
    state_value = state.value if state else None
    return {"state": state_value, "service": service, "name": name, "since": since_param(since)}


@tasks_app.command("list")
def list_tasks(
    ctx: typer.Context,
    state: StateOption = None,
    service: ServiceOption = None,
    name: NameOption = None,
    since: SinceOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json_output: JsonOption = False,
) -> None:
    """List tasks, newest first."""
    where = task_filter(state, service, name, since)
    page = client_of(ctx).get("/tasks", **where, limit=limit, offset=offset)
    if json_output:
        print_json(page)
        return
    rows = items_of(page)
    total = page.get("total", len(rows)) if isinstance(page, dict) else len(rows)
    show(f"Tasks ({len(rows)} of {total})", TASK_COLUMNS, rows)


def task_detail(task: dict[str, Any]) -> Table:
    error = task.get("error") or {}
    step = f" — {task['current_step']}" if task.get("current_step") else ""
    fields: list[tuple[str, Any]] = [
        ("task id", task.get("task_id")),
        ("name", task.get("name")),
        ("service / queue", f"{task.get('service') or '-'} / {task.get('queue') or '-'}"),
        ("state", Text.from_markup(styled_state(task))),
        ("progress", f"{progress_cell(task)}{step}"),
        ("retries", task.get("retries")),
        ("worker", task.get("worker")),
        ("created", task.get("created_at")),
        ("started", task.get("started_at")),
        ("completed", task.get("completed_at")),
        ("runtime", seconds(task.get("runtime"))),
    ]
    if error:
        fields.append(("error", f"{error.get('type')}: {error.get('message')}"))
        fields.append(("classification", error.get("classification")))
    if task.get("result") is not None:
        fields.append(("result", json.dumps(task["result"], default=str)[:2000]))
    return fields_grid(fields)


@tasks_app.command("count")
def count_tasks(
    ctx: typer.Context,
    state: StateOption = None,
    service: ServiceOption = None,
    name: NameOption = None,
    since: SinceOption = None,
    json_output: JsonOption = False,
) -> None:
    """How many tasks match, by state."""
    answer = client_of(ctx).get("/tasks/count", **task_filter(state, service, name, since))
    if json_output:
        print_json(answer)
        return
    by_state = ", ".join(f"{k} {v}" for k, v in sorted((answer.get("by_state") or {}).items()))
    console.print(f"{answer.get('count', 0)} task(s)" + (f": {by_state}" if by_state else ""))


@tasks_app.command("show")
def show_task(ctx: typer.Context, task_id: str, json_output: JsonOption = False) -> None:
    """One task: state, progress, retries, worker, error and result."""
    emit(client_of(ctx).get(f"/tasks/{task_id}"), json_output, task_detail)


@tasks_app.command("cancel")
def cancel_task(
    ctx: typer.Context,
    task_id: str,
    terminate: Annotated[
        bool, typer.Option("--terminate", help="Also stop it if it is already running.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Revoke a task (admin key)."""
    answer = client_of(ctx).post(f"/tasks/{task_id}/cancel", terminate=terminate or None)
    if json_output:
        print_json(answer)
        return
    how = "terminate" if terminate else "cancel"
    console.print(f"asked to {how} task {task_id}")
