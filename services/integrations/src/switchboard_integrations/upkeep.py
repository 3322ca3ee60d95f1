"""Periodic work: the external sync and the health check of every integration."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from switchboard_shared.contracts.integrations import SyncCompleted, SyncFailed
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from .adapters.external_api import ExternalSource
from .adapters.probe import EndpointProbe
from .adapters.twilio_sms import SmsProvider
from .config import IntegrationsSettings
from .models import IntegrationHealth, SyncedRecord, WebhookEndpoint

log = logging.getLogger("switchboard.integrations")


def sync_external(
    uow: UnitOfWork, source: ExternalSource, settings: IntegrationsSettings
) -> dict[str, Any]:
    if not settings.sync_url:
        return {"status": "skipped", "reason": "INTEGRATIONS_SYNC_URL is not set"}
    name = settings.sync_source
    try:
        records = source.fetch_all(settings.sync_url)
    except Exception as exc:  # after tenacity's in-call retries: report it, beat tries again
        reason = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("sync of %s failed: %s", name, reason)
        uow.publish(SyncFailed(source=name, reason=reason))
        return {"status": "failed", "reason": reason}
    created = updated = 0
    for record in records:
        key = str(record.get("id", ""))
        if not key:
            continue
        row = uow.session.get(SyncedRecord, (name, key))
        if row is None:
            uow.session.add(SyncedRecord(source=name, external_id=key, data=record))
            created += 1
        elif row.data != record:
            row.data, row.synced_at = record, utcnow()
            updated += 1
    uow.publish(SyncCompleted(source=name, fetched=len(records), created=created, updated=updated))
    return {"status": "completed", "fetched": len(records), "created": created, "updated": updated}


def check_health(uow: UnitOfWork, probe: EndpointProbe, sms: SmsProvider) -> dict[str, Any]:
    checks: dict[str, str | None] = {}
    for endpoint in uow.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.status == "active")
    ):
        checks[f"webhook-endpoint:{endpoint.id}"] = probe.problem(endpoint.url)
    try:
        sms.check_credentials()
        checks["twilio"] = None
    except Exception as exc:
        checks["twilio"] = f"{type(exc).__name__}: {exc}"[:500]
    for name, problem in checks.items():
        row = uow.session.get(IntegrationHealth, name) or IntegrationHealth(name=name)
        row.ok, row.detail, row.checked_at = problem is None, problem or "ok", utcnow()
        uow.session.add(row)
        if problem:
            log.warning("integration unhealthy: %s: %s", name, problem)
    return {"healthy": all(p is None for p in checks.values()), "checks": checks}
