"""The baseline for bench/gateway_reads.py: a bare FastAPI endpoint answering a task of the
same size from memory (no auth, no middleware, no database)."""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi import FastAPI

app = FastAPI()
TASK: dict[str, Any] = json.loads(os.environ.get("BENCH_TASK_JSON", "{}"))


@app.get("/api/v1/tasks/{task_id}")
def get_task(task_id: str) -> dict[str, Any]:
    return {**TASK, "task_id": task_id}
