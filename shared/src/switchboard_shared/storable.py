"""Text PostgreSQL cannot store: the NUL character (text and JSON columns refuse it) and
unpaired surrogates (UTF-8 cannot encode them; JSON can escape one).

The gateway refuses such text at its edge (`unstorable_locations` names each field); the kit
stores what it must keep anyway, such as a dead-lettered message, with them replaced
(`storable`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

Location = tuple[str | int, ...]
REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def unstorable_locations(value: Any, location: Location = ()) -> Iterator[Location]:
    """Where in a decoded JSON document a string, or an object's key, cannot be stored."""
    if isinstance(value, str):
        if unstorable(value):
            yield location
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and unstorable(key):
                yield (*location, key)
            yield from unstorable_locations(item, (*location, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from unstorable_locations(item, (*location, index))


def storable(value: Any) -> Any:
    """`value` (decoded JSON) with each unstorable character of its strings and keys replaced
    by U+FFFD."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value
