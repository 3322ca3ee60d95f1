"""`switchboard status|services|workers|queues|purge`: the platform at a glance."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from switchboard_gateway.cli.client import ExitCode
from switchboard_gateway.cli.render import (
    Column,
    ago,
    console,
    emit_rows,
    percent,
    print_json,
    show,
)
from switchboard_gateway.cli.state import HoursOption, JsonOption, client_of
from switchboard_gateway.cli.summary import platform_status, queued

SERVICE_COLUMNS = [
    Column("service", "name"),
    Column("status", "status"),
    Column("workers", "workers_online", "right"),
    Column("active", "active_tasks", "right"),
    Column("success", lambda row: percent(row.get("success_rate")), "right"),
    Column("last heartbeat", lambda row: ago(row.get("last_heartbeat"))),
    Column("queued", lambda row: queued(row), "right"),
    Column("flower", "flower_url"),
]
WORKER_COLUMNS = [
    Column("worker", "hostname", whole=True),
    Column("service", "service"),
    Column("online", lambda row: "yes" if row.get("online") else "[red]no[/red]"),
    Column("active", "active", "right"),
    Column("processed", "processed", "right"),
    Column("last heartbeat", lambda row: ago(row.get("last_heartbeat"))),
    Column("last consumed", lambda row: ago(row.get("last_consumed"))),
    Column("load 1m", lambda row: (row.get("loadavg") or [None])[0], "right"),
]
QUEUE_COLUMNS = [
    Column("queue", "name"),
    Column("service", "service"),
    Column("depth", "depth", "right"),
    Column("consumed", lambda row: "yes" if row.get("consumed_recently") else "[red]no[/red]"),
    Column("last consumed", lambda row: ago(row.get("last_consumed"))),
]
ALERT_COLUMNS = [
    Column("rule", "rule"),
    Column("subject", "subject"),
    Column("message", "message"),
    Column("raised", lambda row: ago(row.get("raised_at"))),
]


def print_status(report: dict[str, Any]) -> None:
    ready = report["ready"]
    missing = ready.get("missing") or []
    verdict = (
        "[green]ready[/green]"
        if not missing
        else f"[red]NOT READY[/red]: {escape(', '.join(missing))}"
    )
    console.print(f"Platform: {verdict}")
    show("Services", SERVICE_COLUMNS, report["services"])
    sums = report["totals"]
    console.print(
        f"Last {report['hours']:g} h: {sums['tasks']} tasks, {sums['succeeded']} succeeded, "
        f"{sums['failed']} failed, {sums['retries']} retries, "
        f"success rate {percent(sums['success_rate']) or '-'}"
    )
    if report["alerts"]:
        show("[red]Active alerts[/red]", ALERT_COLUMNS, report["alerts"])
    else:
        console.print("No active alerts.")


def status(ctx: typer.Context, hours: HoursOption = 24.0, json_output: JsonOption = False) -> None:
    """Readiness, every service, totals over the window and active alerts (exit 1 if unhealthy)."""
    report = platform_status(client_of(ctx), hours)
    if json_output:
        print_json(report)
    else:
        print_status(report)
    if not report["healthy"]:
        raise typer.Exit(ExitCode.FAILED)


def services(
    ctx: typer.Context, hours: HoursOption = 24.0, json_output: JsonOption = False
) -> None:
    """Each service: workers online, queued messages, active tasks, success rate, Flower."""
    emit_rows(
        client_of(ctx).get("/services", hours=hours), json_output, "Services", SERVICE_COLUMNS
    )


def workers(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Every worker by heartbeat and liveness probe."""
    emit_rows(client_of(ctx).get("/workers"), json_output, "Workers", WORKER_COLUMNS)


def queues(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Every queue with its depth and whether it is being consumed."""
    emit_rows(client_of(ctx).get("/queues"), json_output, "Queues", QUEUE_COLUMNS)


YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def confirm_or_stop(question: str, yes: bool) -> None:
    """Ask unless `--yes`; a no (or no terminal to ask on) exits 1 with nothing changed."""
    if not yes and not typer.confirm(question, default=False, err=True):
        console.print("nothing changed")
        raise typer.Exit(ExitCode.FAILED)


def purge(
    ctx: typer.Context,
    queue: Annotated[str, typer.Option("--queue", "-q", help="The queue to empty.")],
    yes: YesOption = False,
    json_output: JsonOption = False,
) -> None:
    """Drop every message waiting in a queue (admin key; asks first)."""
    confirm_or_stop(f"Drop every message waiting in {queue}?", yes)
    answer = client_of(ctx).post(f"/queues/{queue}/purge")
    if json_output:
        print_json(answer)
        return
    console.print(f"purged {answer.get('purged', 0)} message(s) from {queue}")
