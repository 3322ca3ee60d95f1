"""`python -m switchboard_gateway.cli`, the same as the `switchboard` command."""

from switchboard_gateway.cli.main import run

run()
