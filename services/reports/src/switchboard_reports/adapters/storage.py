"""Where finished reports go: one small interface, a local folder by default."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Stored:
    location: str  # file:///… or s3://bucket/key
    size: int
    download_url: str | None = None  # presigned, for object storage
    expires_at: datetime | None = None


class ReportStorage(Protocol):
    def put(self, key: str, source: Path, content_type: str) -> Stored:
        """Store `source` under `key` (e.g. `2026/11/rep_1.pdf`); the source may be moved."""
        ...

    def delete(self, location: str) -> bool:
        """Remove a stored report; False when it was already gone."""
        ...

    def exists(self, location: str) -> bool: ...


class LocalStorage:
    """A folder on disk; the location is a `file://` URL the gateway can serve from."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, location: str) -> Path:
        path = Path(location.removeprefix("file://")).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"{location} is outside the reports folder")
        return path

    def put(self, key: str, source: Path, content_type: str) -> Stored:
        target = (self.root / key).resolve()
        if not target.is_relative_to(self.root):
            raise ValueError(f"report key {key!r} leaves the reports folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), target)
        return Stored(location=target.as_uri(), size=target.stat().st_size)

    def delete(self, location: str) -> bool:
        path = self._path(location)
        if not path.exists():
            return False
        path.unlink()
        return True

    def exists(self, location: str) -> bool:
        return self._path(location).exists()
