"""Reading the compose files for the deploy tests: the YAML, the renderer, native commands."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
STACK = COMPOSE / "docker-compose.yml"
INFRA = ("rabbitmq", "postgres", "redis")
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


def script(path: Path, name: str) -> ModuleType:
    """A render script, imported as a module (it is not in a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def renderer() -> ModuleType:
    return script(COMPOSE / "render.py", "compose_render")


def compose_files() -> list[Path]:
    return sorted(COMPOSE.glob("*.yml"))


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def env_example(name: str) -> dict[str, str]:
    values = {}
    for line in (COMPOSE / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME:?error}` from `variables`."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) in variables:
            return variables[match.group(1)]
        default = match.group(0)[len(match.group(1)) + 2 : -1]
        return default[2:] if default.startswith(":-") else ""

    return INTERPOLATION.sub(one, value).replace("$$", "$")


def native(command: list[str]) -> list[str]:
    """The container command as this machine runs it (the venv's interpreter and modules)."""
    head, *rest = command
    if head == "python":
        return [sys.executable, *rest]
    return [sys.executable, "-m", head, *rest]
