"""Liveness: answers while the gateway process runs. No auth."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["monitoring"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/health", response_model=Health, summary="Gateway liveness")
async def health() -> Health:
    return Health()
