"""`POST /api/v1/emails` and `/emails/bulk`: validation naming the field, then one command."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from gateway_fakes import RecordingSender, UnavailableSender
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.main import create_app
from switchboard_gateway.sender import CeleryCommandSender
from switchboard_shared.contracts.email import (
    MAX_ATTACHMENT_BYTES,
    SendBulkEmail,
    SendEmail,
)

MAIL: dict[str, Any] = {"to": "ada@example.com", "subject": "Hello", "text": "Hi Ada"}


def bad_fields(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    return {detail["field"]: detail["message"] for detail in error["details"]}


def test_an_email_is_accepted_and_sent_to_the_queue_of_its_priority(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    response = client.post("/api/v1/emails", json={**MAIL, "priority": "urgent"}, headers=auth)

    assert response.status_code == 202
    body = response.json()
    assert body["status_url"] == f"/api/v1/tasks/{body['task_id']}"
    [sent] = sender.sent
    assert isinstance(sent.command, SendEmail) and sent.task_id == body["task_id"]
    assert sent.command.destination() == "email.urgent"


def test_a_template_with_context_is_accepted_without_subject_or_text(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    mail = {"to": "ada@example.com", "template": "payment-reminder", "context": {"order_id": "o"}}
    assert client.post("/api/v1/emails", json=mail, headers=auth).status_code == 202
    assert sender.sent[0].command.destination() == "email.normal"


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"to": "not-an-address"}, "to", "email"),
        ({"text": None}, "text", "one of 'text', 'html' or 'template' is required"),
        ({"template": "newsletter"}, "text", "not both"),
        ({"priority": "asap"}, "priority", "'urgent', 'normal' or 'bulk'"),
        ({"subject": ""}, "subject", "required"),
        ({"template": "../etc/passwd", "text": None}, "template", "pattern"),
        ({"surprise": 1}, "surprise", "Extra inputs"),
    ],
)
def test_a_bad_email_is_422_naming_the_field(
    client: TestClient,
    auth: dict[str, str],
    sender: RecordingSender,
    change: dict[str, Any],
    field: str,
    says: str,
) -> None:
    mail = {k: v for k, v in {**MAIL, **change}.items() if v is not None}
    fields = bad_fields(client.post("/api/v1/emails", json=mail, headers=auth))
    assert field in fields and says in fields[field]
    assert sender.sent == []


def test_an_attachment_over_the_cap_is_422_naming_it(
    settings: GatewaySettings, sender: RecordingSender, auth: dict[str, str]
) -> None:
    big = base64.b64encode(b"x" * (MAX_ATTACHMENT_BYTES + 3)).decode()
    roomy = settings.model_copy(update={"max_body_bytes": 4 * MAX_ATTACHMENT_BYTES})
    with TestClient(create_app(roomy, sender)) as client:
        mail = {**MAIL, "attachments": [{"filename": "a.pdf", "content_base64": big}]}
        fields = bad_fields(client.post("/api/v1/emails", json=mail, headers=auth))
    assert "too large" in fields["attachments[0].content_base64"]
    assert sender.sent == []


def test_an_attachment_that_is_not_base64_is_422(client: TestClient, auth: dict[str, str]) -> None:
    mail = {**MAIL, "attachments": [{"filename": "a.pdf", "content_base64": "%%%"}]}
    fields = bad_fields(client.post("/api/v1/emails", json=mail, headers=auth))
    assert "base64" in fields["attachments[0].content_base64"]


def test_a_bulk_send_accepts_a_bad_address_among_good_ones(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    bulk = {
        "template": "newsletter",
        "common_context": {"title": "News", "message": "hi"},
        "recipients": [{"to": "a@example.com", "context": {"name": "A"}}, {"to": "nope"}],
    }
    response = client.post("/api/v1/emails/bulk", json=bulk, headers=auth)

    assert response.status_code == 202
    [sent] = sender.sent
    assert isinstance(sent.command, SendBulkEmail) and len(sent.command.recipients) == 2
    assert sent.command.destination() == "email.bulk"


@pytest.mark.parametrize(
    ("bulk", "field"),
    [
        ({"template": "newsletter", "recipients": []}, "recipients"),
        ({"subject": "Hi", "recipients": [{"to": "a@example.com"}]}, "text"),
        ({"template": "newsletter", "recipients": [{"context": {}}]}, "recipients[0].to"),
    ],
)
def test_a_bad_bulk_send_is_422_naming_the_field(
    client: TestClient, auth: dict[str, str], bulk: dict[str, Any], field: str
) -> None:
    assert field in bad_fields(client.post("/api/v1/emails/bulk", json=bulk, headers=auth))


def test_emails_need_an_api_key(client: TestClient) -> None:
    assert client.post("/api/v1/emails", json=MAIL).status_code == 401


def test_a_broker_that_is_down_is_503(settings: GatewaySettings, auth: dict[str, str]) -> None:
    with TestClient(create_app(settings, UnavailableSender())) as client:  # type: ignore[arg-type]
        response = client.post("/api/v1/emails", json=MAIL, headers=auth)
    assert response.status_code == 503


@pytest.mark.integration
def test_the_celery_sender_puts_each_priority_on_its_own_queue(redis_url: str) -> None:
    sender = CeleryCommandSender.for_broker(redis_url)
    for priority in ("urgent", "bulk", "bulk"):
        sender.send(SendEmail(**MAIL, priority=priority), "corr")
    sender.send(SendBulkEmail(template="newsletter", recipients=[{"to": "a@example.com"}]), "c")
    depth = redis.Redis.from_url(redis_url).llen
    assert (depth("email.urgent"), depth("email.normal"), depth("email.bulk")) == (1, 0, 3)
