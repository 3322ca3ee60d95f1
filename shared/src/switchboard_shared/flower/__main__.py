"""`python -m switchboard_shared.flower SERVICE [--port N] [--address A] [--standalone]`."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from switchboard_shared.flower.plan import FLOWER_PORTS, Refused, check, plan_flower


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m switchboard_shared.flower",
        description="Run Flower for one service: its workers only, basic auth required.",
    )
    parser.add_argument("service", help=f"one of {', '.join(FLOWER_PORTS)}")
    parser.add_argument("--port", type=int, help="default: <SERVICE>_FLOWER_PORT or 5551-5555")
    parser.add_argument("--address", help="default: <SERVICE>_FLOWER_ADDRESS or 127.0.0.1")
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="local development: allow no credentials when bound to a loopback address",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        plan = plan_flower(
            args.service,
            os.environ,
            port=args.port,
            address=args.address,
            standalone=args.standalone,
        )
        check(plan)
    except Refused as refusal:
        print(f"switchboard flower: {refusal}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from switchboard_shared.flower.server import serve  # imports Flower and the service's app

    serve(plan)
    return 0


if __name__ == "__main__":
    sys.exit(main())
