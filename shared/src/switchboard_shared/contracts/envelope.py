"""CloudEvents 1.0 envelope with Switchboard's extensions (correlationid, causationid, traceparent)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def new_traceparent() -> str:
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


class Envelope(BaseModel):
    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    dataschemaversion: int = 1
    correlationid: str = Field(min_length=1)
    causationid: str | None = None
    traceparent: str = Field(default_factory=new_traceparent)
    data: dict[str, Any]

    @property
    def producer(self) -> str:
        """`source` is `/switchboard/<service>`; the producer is its last segment."""
        return self.source.rstrip("/").rsplit("/", 1)[-1]

    def routing_key(self) -> str:
        return f"{self.producer}.{self.type}"
