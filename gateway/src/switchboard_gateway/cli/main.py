"""The `switchboard` command: the root options, the exit codes, and every sub-command."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from switchboard_gateway.cli import analysis, follow, platform, report
from switchboard_gateway.cli.client import CliError, ExitCode
from switchboard_gateway.cli.config import resolve
from switchboard_gateway.cli.dlq import dlq_app
from switchboard_gateway.cli.render import err_console
from switchboard_gateway.cli.state import State
from switchboard_gateway.cli.tasks import tasks_app

EXIT_CODES = """[bold]Exit codes[/bold] (for scripts)

0  ok

1  a task ended failed/revoked/dead-lettered, the platform is not healthy, or not found

2  usage error, or input the gateway rejected (400/413/422)

3  gateway unreachable (connection refused, timeout)

4  missing, wrong or insufficient API key (401/403)

[bold]Environment[/bold]: SWITCHBOARD_URL (default http://127.0.0.1:8000); SWITCHBOARD_API_KEY, \
else the first of SWITCHBOARD_API_KEYS, else the key file $SWITCHBOARD_DATA_DIR/api-key \
(var/api-key, written by `make run`)."""

app = typer.Typer(
    name="switchboard",
    help="Operate a Switchboard platform through its gateway.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option(envvar="SWITCHBOARD_URL", help="The gateway's base URL.")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="SWITCHBOARD_API_KEY", help="An API key.", show_envvar=False),
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="HTTP timeout in seconds.")] = 10.0,
) -> None:
    state = ctx.obj if isinstance(ctx.obj, State) else State()
    state.config = resolve(url, api_key, timeout)
    ctx.obj = state


app.command("status")(platform.status)
app.command("services")(platform.services)
app.command("workers")(platform.workers)
app.command("queues")(platform.queues)
app.add_typer(tasks_app, name="tasks")
app.command("submit")(follow.submit)
app.command("watch")(follow.watch)
app.command("failures")(analysis.failures)
app.command("trends")(analysis.trends)
app.command("report")(report.report)
app.add_typer(dlq_app, name="dlq")
app.command("purge")(platform.purge)


def main(args: list[str] | None = None, state: State | None = None) -> int:
    """Run one command line; returns its exit code (tests pass a `State` with a transport)."""
    try:
        app(args=args, obj=state, prog_name="switchboard")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else ExitCode.FAILED
    except CliError as failure:
        err_console.print(f"[red]error:[/red] {escape(failure.message)}", highlight=False)
        return failure.exit_code
    return ExitCode.OK


def run() -> None:
    sys.exit(main())
