"""`GET /metrics`: the platform in Prometheus text format (prometheus-client), read at scrape time.

Protected by an API key like the rest of the ops plane (Prometheus sends it with
`authorization: {credentials: <key>}`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from switchboard_gateway.api.monitoring import ViewDep
from switchboard_gateway.auth import require_api_key
from switchboard_gateway.ledger import stats
from switchboard_gateway.ledger.models import AlertRecord, TaskRollup
from switchboard_gateway.ledger.rollups import DAY
from switchboard_gateway.models import InboundWebhook
from switchboard_gateway.monitor import PlatformView

router = APIRouter(tags=["monitoring"], dependencies=[Depends(require_api_key)])


def webhook_outcome(valid: bool, duplicate: bool, processed: bool, error: str | None) -> str:
    if not valid:
        return "invalid"
    if duplicate:
        return "duplicate"
    return "processed" if processed else ("failed" if error else "received")


class PlatformCollector:
    def __init__(self, view: PlatformView) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        yield self._tasks()
        yield self._runtimes()
        yield from self._platform()
        yield self._webhooks()
        yield self._alerts()

    def _rows(self, query: Any) -> list[Any]:
        with self.view.ledger.session_factory() as session:
            return list(session.execute(query))

    def _tasks(self) -> Metric:
        """Finished tasks from the day rollups: a scrape reads no ledger row."""
        family = CounterMetricFamily(
            "switchboard_tasks", "Tasks finished", labels=["service", "name", "state"]
        )
        columns = (TaskRollup.service, TaskRollup.name, TaskRollup.state)
        for service, name, state, count in self._rows(
            select(*columns, func.sum(TaskRollup.count))
            .where(TaskRollup.span == DAY)
            .group_by(*columns)
        ):
            family.add_metric([service, name, state], count)
        return family

    def _runtimes(self) -> Metric:
        family = GaugeMetricFamily(
            "switchboard_task_runtime_seconds",
            "Task runtime quantiles over the last 24 h",
            labels=["service", "name", "quantile"],
        )
        for item in stats.task_metrics(self.view.ledger, 24):
            for quantile in ("p50", "p95", "p99"):
                value = item["runtime"][quantile]
                if value is not None:
                    family.add_metric([item["service"], item["name"], quantile[1:]], value)
        return family

    def _platform(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "switchboard_queue_depth", "Messages waiting", labels=["service", "queue"]
        )
        for queue in self.view.queues():
            if queue["depth"] is not None:
                depth.add_metric([queue["service"], queue["name"]], queue["depth"])
        online = GaugeMetricFamily(
            "switchboard_workers_online", "Workers alive", labels=["service"]
        )
        workers = self.view.workers()
        for service in self.view.settings.services:
            alive = [w for w in workers if w["service"] == service and w["online"]]
            online.add_metric([service], len(alive))
        yield depth
        yield online

    def _webhooks(self) -> Metric:
        family = CounterMetricFamily(
            "switchboard_webhooks_inbound", "Provider calls", labels=["provider", "outcome"]
        )
        columns = (
            InboundWebhook.provider,
            InboundWebhook.valid,
            InboundWebhook.duplicate,
            InboundWebhook.processed,
            InboundWebhook.error.is_not(None),
        )
        totals: dict[tuple[str, str], int] = {}
        for provider, valid, duplicate, processed, failed, count in self._rows(
            select(*columns, func.count(InboundWebhook.id)).group_by(*columns)
        ):
            key = (provider, webhook_outcome(valid, duplicate, processed, "x" if failed else None))
            totals[key] = totals.get(key, 0) + count
        for (provider, outcome), count in sorted(totals.items()):
            family.add_metric([provider, outcome], count)
        return family

    def _alerts(self) -> Metric:
        family = GaugeMetricFamily(
            "switchboard_alert_active", "1 while an alert is raised", labels=["rule", "subject"]
        )
        for rule, subject, state in self._rows(
            select(AlertRecord.rule, AlertRecord.subject, AlertRecord.state)
        ):
            family.add_metric([rule, subject], 1 if state == "raised" else 0)
        return family


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(view: ViewDep) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector(view))  # type: ignore[arg-type]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
