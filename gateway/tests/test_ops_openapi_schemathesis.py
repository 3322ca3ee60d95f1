"""schemathesis against the gateway app (ASGI): a few generated requests per operation, with
an admin key; no 5xx and every response matches the OpenAPI document. On the gateway's SQLite
database and on PostgreSQL, which refuses what SQLite stores (a NUL, a value too long)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from gateway_fakes import WEBHOOK_SECRETS, RecordingSender
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.main import create_app
from switchboard_shared.testsupport import pg_database, redis_database

KEY = "schema-admin-key"
QUIET_ANSWERS: dict[str, Any] = {
    "orders.dead_letters.list": {"items": [], "total": 0},
    "orders.dead_letters.get": None,
    "orders.dead_letters.replay": None,
    "orders.dead_letters.delete": {"deleted": False},
    "orders.list_suppliers": {"items": [], "total": 0},
    "orders.create_supplier": {"supplier_id": "sup_1"},
    "integrations.register_webhook_endpoint": {"endpoint_id": "ep_0123456789"},
    "integrations.list_webhook_deliveries": {"found": False},
    "integrations.replay_webhook_delivery": {"found": False},
}


class AnsweringSender(RecordingSender):
    def call(self, command: Any, correlation_id: str, timeout: float = 10.0) -> Any:
        self.send(command, correlation_id)
        return self.answers.get(command.task_name)


@contextmanager
def gateway_database(kind: str) -> Iterator[str]:
    """The gateway's own database: its SQLite file, or a PostgreSQL one (`make run`'s choice
    in production), where text and column limits are strict."""
    if kind == "sqlite":
        yield ""
    else:
        with pg_database() as url:
            yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def gateway_schema(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BaseSchema]:
    with redis_database() as redis_url, gateway_database(request.param) as database_url:
        app = create_app(
            GatewaySettings(
                api_keys=KEY,
                broker_url="memory://",
                redis_url=redis_url,
                data_dir=Path(tmp_path_factory.mktemp("schema")),
                services={"orders": ["orders.critical", "orders.normal", "orders.events"]},
                **WEBHOOK_SECRETS,
            ),
            AnsweringSender(answers=dict(QUIET_ANSWERS)),
        )
        with pytest.MonkeyPatch.context() as env:
            env.setenv("GATEWAY_DATABASE_URL", database_url)
            app.state.store.get()  # opened (and migrated) now, on the database chosen
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def checks_for(label: str) -> list[Any]:
    """Readiness answers a documented 503 while workers are missing (none run here)."""
    schema_checks = [response_schema_conformance, content_type_conformance]
    return (
        schema_checks
        if label == "GET /api/v1/health/ready"
        else [not_a_server_error, *schema_checks]
    )


def test_no_server_error_and_no_schema_violation(gateway_schema: BaseSchema) -> None:
    problems: list[str] = []
    operations = [result.ok() for result in gateway_schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {KEY}"}, checks=checks_for(case.operation.label)
            )

        try:
            exercise()
        except Exception as failure:  # collect every operation's failure, then report them all
            problems.append(f"{operation.label}: {str(failure)[:1500]}")
    assert not problems, "\n\n".join(problems)
