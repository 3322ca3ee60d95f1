"""The launcher's own output (children log to files)."""

from __future__ import annotations

import re
import sys
from typing import TextIO


def say(message: str = "", stream: TextIO | None = None) -> None:
    print(message, file=stream or sys.stdout, flush=True)


def masked(url: str) -> str:
    """The URL without its password, for printing."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)
