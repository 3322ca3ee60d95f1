"""Serve the gateway API: `python -m switchboard_gateway.serve [--host H] [--port P]`.

uvicorn rewrites the client's address and scheme from `X-Forwarded-For`/`-Proto` sent by the
peers it trusts. Here those peers are a gateway setting, `SWITCHBOARD_FORWARDED_ALLOW_IPS`
(loopback unless set), never uvicorn's own `FORWARDED_ALLOW_IPS`, which a deploy may carry
without meaning to: a forged header from anyone else is ignored, so per-address limits and
logs see the real peer.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn
from fastapi import FastAPI
from switchboard_shared.logging import configure_logging
from switchboard_shared.required import load_settings

from switchboard_gateway.config import PROGRAM, GatewaySettings
from switchboard_gateway.main import create_app


def uvicorn_config(app: FastAPI, settings: GatewaySettings, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m switchboard_gateway.serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = _arguments(argv)
    settings = load_settings(GatewaySettings, PROGRAM)  # a secret missing: one line, exit 2
    configure_logging("gateway", settings.log_level, settings.log_json)
    config = uvicorn_config(create_app(settings), settings, arguments.host, arguments.port)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
