"""`switchboard dlq list|show|replay|delete`: dead letters of every service."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from switchboard_gateway.cli.follow import follow
from switchboard_gateway.cli.platform import YesOption, confirm_or_stop
from switchboard_gateway.cli.render import (
    Column,
    console,
    emit,
    err_console,
    fields_grid,
    items_of,
    print_json,
    short_time,
    show,
)
from switchboard_gateway.cli.state import JsonOption, client_of

dlq_app = typer.Typer(
    help="Dead letters: work that exhausted its retries or could never succeed.",
    no_args_is_help=True,
)
LetterId = Annotated[str, typer.Argument(help="A dead letter id, <service>:<id>.")]

LETTER_COLUMNS = [
    Column("id", "id", whole=True),
    Column("task", "task_name"),
    Column("classification", "classification"),
    Column("reason", lambda row: escape(str(row.get("reason") or "")[:70])),
    Column("deliveries", "deliveries", "right"),
    Column("created", lambda row: short_time(row.get("created_at"))),
    Column("replayed", lambda row: short_time(row.get("replayed_at"))),
]


@dlq_app.command("list")
def list_letters(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Option(help="Only this service's dead letters.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json_output: JsonOption = False,
) -> None:
    """Dead letters of every service, newest first."""
    page = client_of(ctx).get("/dead-letters", service=service, limit=limit, offset=offset)
    if json_output:
        print_json(page)
        return
    rows = items_of(page)
    show(f"Dead letters ({len(rows)} of {page.get('total', len(rows))})", LETTER_COLUMNS, rows)
    if page.get("unavailable"):
        err_console.print(f"[yellow]no answer from:[/yellow] {', '.join(page['unavailable'])}")


LETTER_FIELDS = (
    *("id", "service", "task_name", "task_id", "queue", "classification", "exception_type"),
    *("reason", "deliveries", "created_at", "replayed_at"),
)


def letter_detail(letter: dict[str, Any]) -> Table:
    fields = [(label.replace("_", " "), letter.get(label)) for label in LETTER_FIELDS]
    fields.append(("message", json.dumps(letter.get("message"), indent=2, default=str)))
    fields.append(("traceback", letter.get("traceback")))
    return fields_grid(fields)


@dlq_app.command("show")
def show_letter(ctx: typer.Context, letter_id: LetterId, json_output: JsonOption = False) -> None:
    """One dead letter with its whole original message and traceback."""
    emit(client_of(ctx).get(f"/dead-letters/{letter_id}"), json_output, letter_detail)


@dlq_app.command("replay")
def replay_letter(
    ctx: typer.Context,
    letter_id: LetterId,
    then_watch: Annotated[bool, typer.Option("--watch", help="Follow the new attempt.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Send the original message again, to its original queue, as a new attempt (admin)."""
    client = client_of(ctx)
    answer = client.post(f"/dead-letters/{letter_id}/replay")
    if json_output:
        print(json.dumps(answer), flush=True)
    else:
        console.print(f"replayed {letter_id} as task {answer['task_id']}")
    if then_watch:
        follow(client, answer["task_id"], 0.5, None, json_output)


@dlq_app.command("delete")
def delete_letter(
    ctx: typer.Context, letter_id: LetterId, yes: YesOption = False, json_output: JsonOption = False
) -> None:
    """Delete a dead letter for good (admin; asks first)."""
    confirm_or_stop(f"Delete dead letter {letter_id} for good?", yes)
    client_of(ctx).delete(f"/dead-letters/{letter_id}")
    if json_output:
        print_json({"deleted": letter_id})
        return
    console.print(f"deleted {letter_id}")
