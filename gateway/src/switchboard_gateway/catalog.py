"""The event catalog and its AsyncAPI 3.0 document, generated from the contract models.

Producers and versions come from the contracts; subscribers from what each service's
workers announced at start (`switchboard:subscriptions:<service>` in Redis).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema
from switchboard_shared.contracts import EVENTS, EventSpec
from switchboard_shared.opstasks import SUBSCRIPTIONS_KEY
from switchboard_shared.topology import EVENTS_EXCHANGE

SCHEMA_REF = "#/components/schemas/{model}"


def subscriptions(redis: Any, services: list[str]) -> dict[str, list[str]]:
    """Service → event types it consumes, for the services whose workers announced them."""
    found = {}
    for service in services:
        raw = redis.get(SUBSCRIPTIONS_KEY.format(service=service))
        if raw:
            found[service] = list(json.loads(raw))
    return found


def subscribers_of(event_type: str, announced: dict[str, list[str]]) -> list[str]:
    return sorted(service for service, types in announced.items() if event_type in types)


def catalog(announced: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [
        {
            "type": spec.type,
            "version": spec.version,
            "producer": spec.producer,
            "routing_key": f"{spec.producer}.{spec.type}",
            "subscribers": subscribers_of(spec.type, announced),
            "description": (spec.model.__doc__ or "").strip(),
            "schema": spec.schema(),
        }
        for spec in sorted(EVENTS.values(), key=lambda s: s.type)
    ]


def _schemas(specs: list[EventSpec]) -> dict[str, Any]:
    _, document = models_json_schema(
        [(spec.model, "validation") for spec in specs], ref_template=SCHEMA_REF
    )
    return dict(document.get("$defs", {}))


def _message(spec: EventSpec) -> dict[str, Any]:
    return {
        "name": spec.type,
        "title": spec.model.__name__,
        "summary": (spec.model.__doc__ or spec.type).strip().splitlines()[0],
        "contentType": "application/json",
        "payload": {"$ref": SCHEMA_REF.format(model=spec.model.__name__)},
        "x-version": spec.version,
        "x-envelope": "CloudEvents 1.0; this is its `data`, the task message is `event.<type>`",
    }


def _operations(spec: EventSpec, announced: dict[str, list[str]]) -> dict[str, Any]:
    channel = {"$ref": f"#/channels/{spec.type}"}
    message = [{"$ref": f"#/channels/{spec.type}/messages/{spec.type}"}]
    operations = {
        f"{spec.producer}.publish.{spec.type}": {
            "action": "send",
            "channel": channel,
            "messages": message,
            "summary": f"{spec.producer} publishes {spec.type}",
        }
    }
    for service in subscribers_of(spec.type, announced):
        operations[f"{service}.consume.{spec.type}"] = {
            "action": "receive",
            "channel": channel,
            "messages": message,
            "summary": f"{service} consumes {spec.type} from its {service}.events queue",
        }
    return operations


def asyncapi(announced: dict[str, list[str]], version: str) -> dict[str, Any]:
    specs = sorted(EVENTS.values(), key=lambda s: s.type)
    channels = {
        spec.type: {
            "address": f"{spec.producer}.{spec.type}",
            "description": f"routing key on the `{EVENTS_EXCHANGE.name}` topic exchange",
            "messages": {spec.type: {"$ref": f"#/components/messages/{spec.type}"}},
        }
        for spec in specs
    }
    operations: dict[str, Any] = {}
    for spec in specs:
        operations |= _operations(spec, announced)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Switchboard events",
            "version": version,
            "description": "Every domain event on the platform, generated from the contract models.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {spec.type: _message(spec) for spec in specs},
            "schemas": _schemas(specs),
        },
    }
