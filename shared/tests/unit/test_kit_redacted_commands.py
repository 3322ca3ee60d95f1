"""A command's secret fields travel in its body but are masked wherever it is shown."""

from __future__ import annotations

from typing import Any

from celery import Celery, signals
from switchboard_shared.commands import send_command
from switchboard_shared.contracts.integrations import RegisterWebhookEndpoint, SendSms

SECRET = "whsec_" + "A" * 32


def published(command: Any) -> tuple[str | None, dict[str, Any]]:
    seen: list[tuple[str | None, dict[str, Any]]] = []

    def grab(headers: dict[str, Any], body: Any, **_: Any) -> None:
        seen.append((headers.get("argsrepr"), body[0][0]))

    signals.before_task_publish.connect(grab, weak=False)
    try:
        send_command(Celery("t", broker="memory://", set_as_current=False), command)
    finally:
        signals.before_task_publish.disconnect(grab)
    return seen[0]


def test_a_webhook_secret_is_in_the_body_but_not_in_what_task_events_show() -> None:
    command = RegisterWebhookEndpoint(
        endpoint_id="ep_01234567", url="https://x.example/h", events=["sms-sent"], secret=SECRET
    )
    shown, body = published(command)
    assert body["secret"] == SECRET
    assert shown is not None and SECRET not in shown and "'secret': '***'" in shown


def test_commands_without_secrets_are_shown_as_celery_shows_them() -> None:
    shown, body = published(SendSms(sms_id="sms_01234567", to="+14155552671", body="hi"))
    assert body["to"] == "+14155552671" and "+14155552671" in (shown or "")
