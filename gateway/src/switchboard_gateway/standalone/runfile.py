"""`<data dir>/run/standalone.json`: which launcher owns the data dir and what it started.

A later run reads it to refuse a second live launcher on the same data dir and to stop what a
launcher killed with SIGKILL left behind (its child groups; its Redis is cleared separately).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchboard_gateway.standalone.processes import (
    LaunchError,
    cmdline,
    group_members,
    is_ours,
    pid_alive,
    stop_groups,
)
from switchboard_gateway.standalone.say import say

RUN_FILE = "run/standalone.json"


@dataclass
class RunFile:
    path: Path
    owned: bool = False

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> RunFile:
        return cls(data_dir / RUN_FILE)

    def read(self) -> dict[str, Any]:
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def clear_previous(self) -> None:
        """Refuse a second live launcher on this data dir; clear what a killed one left behind."""
        if not self.path.exists():
            return
        previous = self.read()
        launcher = int(previous.get("pid") or 0)
        alive = launcher and launcher != os.getpid() and pid_alive(launcher)
        if alive and "standalone" in cmdline(launcher):
            raise LaunchError(
                f"another switchboard-standalone (pid {launcher}) is using {self.path.parents[1]}; "
                "stop it first or set SWITCHBOARD_DATA_DIR to another folder"
            )
        leftovers = [
            int(pgid)
            for pgid in previous.get("children", {}).values()
            if group_members(int(pgid)) and is_ours(int(pgid))
        ]
        if leftovers:
            say(f"stopping {len(leftovers)} process group(s) left by an earlier run")
            stop_groups(leftovers)
        self.path.unlink(missing_ok=True)

    def write(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), **state}, indent=2))
        tmp.replace(self.path)
        self.owned = True

    def remove(self) -> None:
        if self.owned:  # never another live launcher's
            self.path.unlink(missing_ok=True)
