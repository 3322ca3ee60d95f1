"""`switchboard-standalone`: arguments, signal handling, the start-up sequence and exit code."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from switchboard_gateway.standalone import startup
from switchboard_gateway.standalone.launcher import Launcher
from switchboard_gateway.standalone.processes import ChildDied, LaunchError
from switchboard_gateway.standalone.say import say


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="switchboard-standalone",
        description="Run the whole Switchboard platform locally: embedded Redis, local "
        "providers, one worker (with beat) per service and the gateway.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("SWITCHBOARD_DATA_DIR") or "var"),
        help="databases, logs and the embedded Redis (default: $SWITCHBOARD_DATA_DIR or ./var)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("SWITCHBOARD_PORT") or 8000),
        help="gateway port (default: $SWITCHBOARD_PORT or 8000)",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("SWITCHBOARD_HOST") or "127.0.0.1",
        help="gateway address (default: $SWITCHBOARD_HOST or 127.0.0.1)",
    )
    parser.add_argument(
        "--flower", action="store_true", help="also one Flower per service on 127.0.0.1:5551-5555"
    )
    return parser.parse_args(argv)


def run(launcher: Launcher) -> None:
    launcher.prepare()
    if not startup.migrate(launcher.env, launcher.stop_requested.is_set):
        return
    launcher.build_children()
    launcher.start_children()
    if launcher.wait_until_ready():
        launcher.banner()
        launcher.supervise()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    launcher = Launcher(
        data_dir=args.data_dir.expanduser().resolve(),
        host=args.host,
        port=args.port,
        flower=args.flower,
    )

    def request_stop(signum: int, _frame: Any) -> None:
        if not launcher.stop_requested.is_set():
            say(f"\n{signal.Signals(signum).name} received: stopping Switchboard …")
        launcher.stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    code = 0
    try:
        run(launcher)
    except ChildDied as exc:
        say(f"error: {exc}; stopping everything. Last lines of {exc.child.log_path}:", sys.stderr)
        say(exc.child.tail(), sys.stderr)
        code = 1
    except LaunchError as exc:
        say(f"error: {exc}", sys.stderr)
        code = 1
    finally:
        # A second Ctrl-C during shutdown must not cut it short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        launcher.shutdown()
    say("Switchboard stopped." if code == 0 else "Switchboard stopped after an error.")
    return code
