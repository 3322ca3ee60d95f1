"""Run in a subprocess (importing every app registers Celery signals): prints, as JSON, each
deployable's queues and every environment variable its settings classes read."""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from typing import Any

from pydantic import AliasChoices
from pydantic_settings import BaseSettings


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = set()
    for field_name, field in settings.model_fields.items():
        names.add(f"{prefix}{field_name}".upper())
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias.upper())
    return names


def settings_in(*modules: str) -> set[str]:
    names: set[str] = set()
    for module_name in modules:
        module = importlib.import_module(module_name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseSettings) and cls.model_config.get("env_prefix"):
                names |= env_names(cls)
    return names


def describe(name: str) -> dict[str, Any]:
    package = f"switchboard_{name}"
    app = importlib.import_module(f"{package}.app").app
    modules = [f"{package}.app", "switchboard_shared.settings"]
    modules.append(f"{package}.config")
    return {"queues": [q.name for q in app.conf.task_queues], "env": sorted(settings_in(*modules))}


if __name__ == "__main__":
    print(json.dumps({name: describe(name) for name in sys.argv[1:]}))
