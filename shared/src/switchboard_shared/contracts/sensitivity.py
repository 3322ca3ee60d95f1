"""Which contract fields hold secrets and which hold personal data, and masking by those marks.

A contract marks a field with `secret(...)` or `personal(...)` in place of `Field(...)`; the
mark is in its JSON schema (`x-sensitivity`), so the catalog and AsyncAPI show it too.
Wherever a stored message is shown (dead letters, the event log, provider calls), a value
under a secret field's name is never returned, and one under a personal field's name is
masked for readers that have no need to see it (read-only API keys).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel, Field

MARK = "x-sensitivity"
HIDDEN = "[redacted]"
_EMAIL = re.compile(r"^([^@\s])[^@\s]*@(.+)$")
_PHONE = re.compile(r"^\+?[\d\s().-]{6,}$")


class Sensitivity(StrEnum):
    SECRET = "secret"  # noqa: S105  (a category name, not a password)
    PERSONAL = "personal"


def secret(default: Any = ..., **field: Any) -> Any:
    """A field never shown once sent: signing secrets, tokens, passwords."""
    return Field(default, json_schema_extra={MARK: Sensitivity.SECRET.value}, **field)


def personal(default: Any = ..., **field: Any) -> Any:
    """A field holding personal data (an address, a phone number): masked for read-only keys."""
    return Field(default, json_schema_extra={MARK: Sensitivity.PERSONAL.value}, **field)


def marked(model: type[BaseModel], sensitivity: Sensitivity) -> frozenset[str]:
    """The names of `model`'s own fields carrying `sensitivity`."""
    return frozenset(
        name
        for name, info in model.model_fields.items()
        if isinstance(info.json_schema_extra, dict)
        and info.json_schema_extra.get(MARK) == sensitivity.value
    )


def _nested(model: type[BaseModel]) -> Iterable[type[BaseModel]]:
    """`model` and every model its fields hold (lists and optionals included)."""
    seen: list[type[BaseModel]] = []
    pending = [model]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.append(current)
        for info in current.model_fields.values():
            pending += [t for t in _types(info.annotation) if issubclass(t, BaseModel)]
    return seen


def _types(annotation: Any) -> list[type]:
    if isinstance(annotation, type):
        return [annotation]
    return [t for arg in get_args(annotation) for t in _types(arg)]


@cache
def names(sensitivity: Sensitivity) -> frozenset[str]:
    """Field names marked `sensitivity` anywhere in the published language, lower-cased."""
    from .catalog import COMMANDS, EVENTS

    models = [*COMMANDS.values(), *(spec.model for spec in EVENTS.values())]
    return frozenset(
        name.lower()
        for model in models
        for part in _nested(model)
        for name in marked(part, sensitivity)
    )


def mask(value: Any) -> Any:
    """A personal value with just enough left to tell two apart: `a***@example.com`."""
    if not isinstance(value, str):
        return None if value is None else HIDDEN
    if match := _EMAIL.match(value):
        return f"{match.group(1)}***@{match.group(2)}"
    if _PHONE.match(value):
        digits = re.sub(r"\D", "", value)
        return f"{'+' if value.startswith('+') else ''}{'*' * max(len(digits) - 2, 0)}{digits[-2:]}"
    return value[:1] + "***" if value else value


def redact(
    value: Any,
    *,
    mask_personal: bool,
    secret_names: Iterable[str] = (),
    personal_names: Iterable[str] = (),
) -> Any:
    """`value` (any JSON) with every secret hidden and, when asked, personal data masked.

    Keys are matched by name, case-insensitively, at any depth: a message's envelope, a
    Celery body or a provider's payload all carry the contract's field names."""
    secrets = names(Sensitivity.SECRET) | {n.lower() for n in secret_names}
    people = names(Sensitivity.PERSONAL) | {n.lower() for n in personal_names}
    return _walk(value, secrets, people if mask_personal else frozenset())


def _walk(value: Any, secrets: frozenset[str], people: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {key: _entry(key, item, secrets, people) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, secrets, people) for item in value]
    return value


def _entry(key: Any, value: Any, secrets: frozenset[str], people: frozenset[str]) -> Any:
    name = str(key).lower()
    if name in secrets:
        return HIDDEN
    if name in people:
        if isinstance(value, list):
            return [mask(item) if not isinstance(item, dict | list) else HIDDEN for item in value]
        return mask(value) if not isinstance(value, dict) else HIDDEN
    return _walk(value, secrets, people)


def secret_values(value: Any) -> list[str]:
    """The strings held under secret field names anywhere in `value`."""
    found: list[str] = []
    secrets = names(Sensitivity.SECRET)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if str(key).lower() in secrets and isinstance(item, str) and item:
                    found.append(item)
                else:
                    walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(value)
    return found


def scrub(text: str | None, values: Iterable[str]) -> str | None:
    """`text` (a traceback, a reason) with each of `values` replaced: an exception message
    may quote the very field the message hides."""
    if text is None:
        return None
    for value in values:
        text = text.replace(value, HIDDEN)
    return text
