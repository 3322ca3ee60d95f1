"""Text no database here can hold is refused at the edge, before any route, with a 422.

PostgreSQL's text and JSON types cannot hold the NUL character, and UTF-8 cannot encode an
unpaired surrogate (which JSON can escape). Let through, such a string fails a database write
on every attempt, in the gateway (a 500) or in the worker that stores it. One app-wide
dependency checks every path and query parameter and every string (and key) of a JSON or form
body, the provider webhooks' too, and names each field that holds one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from switchboard_shared.storable import Location, unstorable, unstorable_locations

MESSAGE = "must not contain the NUL character (\\u0000) or an unpaired surrogate"
# Most bodies hold none of these bytes and are never decoded here: JSON escapes a NUL as
# \u0000 and a surrogate as \udXXX; a form body has %00 (or the raw byte).
_SUSPECT = re.compile(rb"\\u0000|\\u[dD][89abcdefABCDEF]|%00|\x00")


def _in_params(kind: str, params: Iterable[tuple[str, Any]]) -> list[Location]:
    return [(kind, name) for name, value in params if unstorable(name) or unstorable(str(value))]


def _in_body(body: bytes, content_type: str) -> list[Location]:
    if not _SUSPECT.search(body):
        return []
    if content_type.startswith("application/x-www-form-urlencoded"):
        fields = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return _in_params("body", fields)
    try:
        document = json.loads(body)
    except ValueError:  # not JSON: its route answers for that, unless it holds a raw NUL
        return [("body",)] if b"\x00" in body else []
    return [("body", *location) for location in unstorable_locations(document)]


async def refuse_unstorable_text(request: Request) -> None:
    """An app-wide dependency: a 422 naming every field that holds unstorable text."""
    found = [
        *_in_params("path", request.path_params.items()),
        *_in_params("query", request.query_params.multi_items()),
        *_in_body(await request.body(), request.headers.get("content-type", "")),
    ]
    if found:
        errors = [
            {"loc": location, "msg": MESSAGE, "type": "string_unstorable"}
            for location in dict.fromkeys(found)
        ]
        raise RequestValidationError(errors)
