"""The platform as the ops plane reports it: services, workers, queues and readiness.

Sources: worker heartbeats (task events, kept by the ledger consumer), the kit's liveness
stamps (a probe consumed through each queue, in Redis), queue depths from the broker, and
the ledger for success rates.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from sqlalchemy import select, text
from switchboard_shared import liveness
from switchboard_shared.redis_checks import redis_client

from switchboard_gateway.config import GatewayOpsSettings
from switchboard_gateway.control import BrokerControl
from switchboard_gateway.ledger.models import WorkerRecord
from switchboard_gateway.ledger.queries import TaskLedger
from switchboard_gateway.ledger.stats import finished_by, success_rate

shared_redis = cache(redis_client)  # one connection pool per URL for the process


class PlatformView:
    def __init__(
        self, settings: GatewayOpsSettings, control: BrokerControl, ledger: TaskLedger
    ) -> None:
        self.settings, self.control, self.ledger = settings, control, ledger
        self.max_age = settings.worker_heartbeat_max_age

    def _fresh(self, moment: float | None) -> bool:
        return moment is not None and time.time() - moment <= self.max_age

    def _stamps(self) -> dict[str, tuple[str, float]]:
        """Worker → (service, last probe it consumed), from the kit's liveness stamps."""
        client = shared_redis(self.settings.effective_redis_url)
        found: dict[str, tuple[str, float]] = {}
        for service in self.settings.services:
            for host, stamped in liveness.workers(client, service).items():
                found[host] = (service, stamped)
        return found

    def workers(self) -> list[dict[str, Any]]:
        stamps = self._stamps()
        with self.ledger.session_factory() as session:
            rows = {w.hostname: w for w in session.scalars(select(WorkerRecord))}
        return [
            self._worker(host, rows.get(host), stamps.get(host))
            for host in sorted({*rows, *stamps})
        ]

    def _worker(
        self, host: str, row: WorkerRecord | None, stamp: tuple[str, float] | None
    ) -> dict[str, Any]:
        service = stamp[0] if stamp else (row.service if row else "unknown")
        beat = row.last_heartbeat if row else None
        consumed = stamp[1] if stamp else None
        return {
            "hostname": host,
            "service": service,
            "online": (row is not None and row.online and self._fresh(beat))
            or self._fresh(consumed),
            "last_heartbeat": beat,
            "last_consumed": consumed,
            "active": row.active if row else 0,
            "processed": row.processed if row else 0,
            "loadavg": row.loadavg if row else None,
            "software": row.software if row else None,
        }

    def queues(self) -> list[dict[str, Any]]:
        client = shared_redis(self.settings.effective_redis_url)
        names = [q for queues in self.settings.services.values() for q in queues]
        depths = self.control.queue_depths(names)
        items = []
        for service, queues in self.settings.services.items():
            for state in liveness.read(client, service, queues, self.max_age):
                items.append(
                    {
                        "name": state.queue,
                        "service": service,
                        "depth": depths.get(state.queue),
                        "last_consumed": state.last_consumed,
                        "consumed_recently": state.healthy,
                    }
                )
        return items

    def services(self, hours: float = 24.0) -> list[dict[str, Any]]:
        workers, queues = self.workers(), self.queues()
        tallies = finished_by(self.ledger, hours, "service")
        return [
            self._service(name, workers, queues, tallies[(name,)].by_state)
            for name in self.settings.services
        ]

    def _service(
        self,
        name: str,
        workers: list[dict[str, Any]],
        queues: list[dict[str, Any]],
        states: dict[str, int],
    ) -> dict[str, Any]:
        mine = [w for w in workers if w["service"] == name]
        online = [w for w in mine if w["online"]]
        beats = [w["last_heartbeat"] or w["last_consumed"] or 0 for w in mine]
        return {
            "name": name,
            "status": "up" if online else "down",
            "workers_online": len(online),
            "workers": [w["hostname"] for w in mine],
            "last_heartbeat": max(beats) if beats else None,
            "queues": [q for q in queues if q["service"] == name],
            "active_tasks": sum(w["active"] for w in online),
            "success_rate": success_rate(states),
            "flower_url": self.settings.flower_urls.get(name),
        }

    def readiness(self) -> dict[str, Any]:
        """What must be up before the platform can take work; `missing` says what is not."""
        missing: list[str] = []
        if not self.control.ping():
            missing.append("broker")
        if not self._database_ok():
            missing.append("gateway database")
        alive = {service for service, at in self._stamps().values() if self._fresh(at)}
        missing += [f"worker of {s}" for s in self.settings.services if s not in alive]
        return {"status": "ready" if not missing else "not ready", "missing": missing}

    def _database_ok(self) -> bool:
        try:
            with self.ledger.session_factory() as session:
                session.execute(text("SELECT 1"))
            return True
        except Exception:
            return False
