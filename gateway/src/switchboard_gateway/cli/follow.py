"""`switchboard submit` and `switchboard watch`: send a command by name, follow a task to its end."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from switchboard_gateway.cli.client import CliError, ExitCode, GatewayClient, NotFound
from switchboard_gateway.cli.render import console
from switchboard_gateway.cli.state import client_of
from switchboard_gateway.cli.tasks import TERMINAL_STATES

UNKNOWN_GRACE_SECONDS = 10.0  # the ledger learns of a task from its first event


def poll(
    client: GatewayClient, task_id: str, interval: float, timeout: float | None
) -> Iterator[dict[str, Any]]:
    """The task each time it changes, until it reaches a final state (or `timeout` passes)."""
    started = time.monotonic()
    last: dict[str, Any] | None = None
    while True:
        try:
            task = client.get(f"/tasks/{task_id}")
        except NotFound:
            if time.monotonic() - started > UNKNOWN_GRACE_SECONDS:
                raise
            task = None
        if task is not None and task != last:
            last = task
            yield task
        if task is not None and task.get("state") in TERMINAL_STATES:
            return
        if timeout and time.monotonic() - started > timeout:
            state = (last or {}).get("state", "unknown")
            raise CliError(f"task {task_id} still {state} after {timeout:g}s")
        time.sleep(interval)


def outcome(task: dict[str, Any]) -> tuple[int, str]:
    state = task.get("state")
    if state == "succeeded":
        return ExitCode.OK, f"[green]task {task['task_id']} succeeded[/green]"
    error = task.get("error") or {}
    why = escape(f": {error.get('type')}: {error.get('message')} ({error.get('classification')})")
    return ExitCode.FAILED, f"[red]task {task['task_id']} {state}[/red]" + (why if error else "")


def _with_bar(updates: Iterator[dict[str, Any]], task_id: str) -> dict[str, Any]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[state]} {task.fields[step]}"),
        TimeElapsedColumn(),
    )
    final: dict[str, Any] = {}
    with Progress(*columns, console=console) as bar:
        handle = bar.add_task(task_id[:12], total=100, state="waiting", step="")
        for task in updates:
            final = task
            bar.update(
                handle,
                description=str(task.get("name") or task_id[:12]),
                completed=float(task.get("progress") or 0),
                state=task.get("state", ""),
                step=task.get("current_step") or "",
            )
        if final.get("state") == "succeeded":
            bar.update(handle, completed=100)
    return final


def _as_json_lines(updates: Iterator[dict[str, Any]]) -> dict[str, Any]:
    final: dict[str, Any] = {}
    for task in updates:
        final = task
        print(json.dumps(task, default=str), flush=True)
    return final


def follow(
    client: GatewayClient, task_id: str, interval: float, timeout: float | None, json_lines: bool
) -> None:
    updates = poll(client, task_id, interval, timeout)
    render: Callable[[Iterator[dict[str, Any]]], dict[str, Any]] = (
        _as_json_lines if json_lines else lambda u: _with_bar(u, task_id)
    )
    final = render(updates)
    code, message = outcome(final)
    if not json_lines:
        console.print(message)
    raise typer.Exit(code)


IntervalOption = Annotated[float, typer.Option(min=0.05, help="Seconds between polls.")]
TimeoutOption = Annotated[
    float, typer.Option(min=0, help="Give up (exit 1) after this many seconds; 0 waits forever.")
]


def watch(
    ctx: typer.Context,
    task_id: str,
    interval: IntervalOption = 0.5,
    timeout: TimeoutOption = 0,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON line per change instead of a progress bar.")
    ] = False,
) -> None:
    """Follow a task with a live progress bar until it ends; exit 0 if it succeeded, else 1."""
    follow(client_of(ctx), task_id, interval, timeout or None, json_output)


def parse_args(value: str) -> dict[str, Any]:
    try:
        args = json.loads(value)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}") from None
    if not isinstance(args, dict):
        raise typer.BadParameter("must be a JSON object of the command's fields")
    return args


def submit(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A command name, e.g. email.send.")],
    args: Annotated[
        str, typer.Option("--args", help="The command's fields as a JSON object: '{\"to\": …}'.")
    ] = "{}",
    then_watch: Annotated[
        bool, typer.Option("--watch", help="Follow the task until it ends (exit code by state).")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Submit a command by name through the gateway (validated against its contract)."""
    client = client_of(ctx)
    accepted = client.post("/tasks", {"name": name, "args": parse_args(args)})
    if json_output:
        print(json.dumps(accepted), flush=True)  # one line, so `--watch` output stays JSON lines
    else:
        console.print(f"submitted {name} as task {accepted['task_id']}")
    if then_watch:
        follow(client, accepted["task_id"], 0.5, None, json_output)
