"""Settings a process cannot run without: its secrets have no default anywhere.

A settings field typed `RequiredSecret` must come from the environment (or the caller) and
must not be empty. `load_settings` builds a settings object for a process's entrypoint; when
a required variable is missing it prints one line naming it and exits with status 2, so a
deploy that forgot a secret fails at start-up instead of accepting forged callbacks.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, NoReturn, TypeVar

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings

EXIT_MISSING = 2
MISSING_ERRORS = frozenset({"missing", "string_too_short"})

RequiredSecret = Annotated[str, Field(min_length=1, repr=False)]
"""A secret with no default: required, and never the empty string (nor shown in a repr)."""

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def env_name(settings: type[BaseSettings], field: str) -> str:
    """The variable a field is read from: its first alias, else prefix + name."""
    info = settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0]).upper()
    if isinstance(alias, str):
        return alias.upper()
    if info is None:  # pydantic reports an aliased field under its alias
        return field.upper()
    return f"{settings.model_config.get('env_prefix', '')}{field}".upper()


def missing_variables(settings: type[BaseSettings], error: ValidationError) -> list[str]:
    """The variables `error` says are missing or empty; [] when it says anything else too."""
    problems = error.errors()
    if not problems or any(p["type"] not in MISSING_ERRORS for p in problems):
        return []
    return sorted({env_name(settings, str(p["loc"][0])) for p in problems if p["loc"]})


def refuse_to_start(program: str, variables: list[str]) -> NoReturn:
    """One line on stderr, no traceback, exit status 2."""
    verb = "is" if len(variables) == 1 else "are"
    print(f"{program}: {', '.join(variables)} {verb} not set", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_MISSING)


def load_settings(settings: type[SettingsT], program: str, **values: Any) -> SettingsT:
    """`settings(**values)`, or exit 2 naming the required variables that are not set."""
    try:
        return settings(**values)
    except ValidationError as exc:
        missing = missing_variables(settings, exc)
        if not missing:
            raise
        refuse_to_start(program, missing)
