"""The guarded, signed webhook sender against real local HTTP receivers."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest
from integrations_receivers import Receiver
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from switchboard_integrations.adapters.webhooks import SenderLimits, WebhookSender
from switchboard_shared.netguard import AddressPolicy
from switchboard_shared.testsupport import free_port

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
BODY = json.dumps({"type": "order-matched", "data": {"order_id": "ord_1"}}).encode()
OPEN = AddressPolicy(allow_private=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(SECRET, slow_seconds=2.0).start()
    yield server
    server.stop()


def sender(
    policy: AddressPolicy = OPEN,
    resolver=None,
    **limits: float,  # type: ignore[no-untyped-def]
) -> WebhookSender:
    extra = {"resolver": resolver} if resolver else {}
    return WebhookSender(SenderLimits(**limits), policy, **extra)  # type: ignore[arg-type]


def test_a_delivery_verifies_with_the_official_standard_webhooks_library(
    receiver: Receiver,
) -> None:
    result = sender().send(receiver.url("/verify"), SECRET, "msg_abc", BODY)
    assert result.ok and result.status_code == 204
    [request] = receiver.at("/verify")
    assert request.verified is True
    assert request.headers["webhook-id"] == "msg_abc"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    assert Webhook(SECRET).verify(request.body, request.headers) == json.loads(BODY)


def test_a_tampered_body_or_another_secret_does_not_verify(receiver: Receiver) -> None:
    sender().send(receiver.url("/ok"), SECRET, "msg_abc", BODY)
    [request] = receiver.at("/ok")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.body.replace(b"ord_1", b"ord_2"), request.headers)
    other = "whsec_" + base64.b64encode(b"another-secret-another-secret!!!").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(request.body, request.headers)


def test_an_old_delivery_replayed_is_rejected_by_a_receiver_checking_the_timestamp(
    receiver: Receiver,
) -> None:
    old_clock = WebhookSender(SenderLimits(), OPEN, clock=lambda: time.time() - 600)
    result = old_clock.send(receiver.url("/verify"), SECRET, "msg_old", BODY)
    assert not result.ok and result.status_code == 400
    [request] = receiver.at("/verify")
    assert request.verified is False and "too old" in (request.error or "")


def test_an_answer_after_the_read_timeout_is_a_failure(receiver: Receiver) -> None:
    started = time.monotonic()
    result = sender(read_timeout=0.5).send(receiver.url("/slow"), SECRET, "m", BODY)
    assert not result.ok and result.status_code is None
    assert result.error and result.error.startswith("timed out")
    assert time.monotonic() - started < 1.8


def test_a_tarpit_is_cut_off_at_the_overall_deadline(receiver: Receiver) -> None:
    started = time.monotonic()
    result = sender(read_timeout=1.0, deadline=1.5).send(receiver.url("/tarpit"), SECRET, "m", BODY)
    elapsed = time.monotonic() - started
    assert not result.ok and "deadline" in (result.error or "")
    assert 1.4 < elapsed < 3.0, "each byte came within the read timeout: only the deadline ends it"


def test_a_redirect_is_a_failure_and_is_never_followed(receiver: Receiver) -> None:
    result = sender().send(receiver.url("/redirect-metadata"), SECRET, "m", BODY)
    assert not result.ok and result.status_code == 302
    assert "169.254.169.254" in (result.error or "") and "not followed" in (result.error or "")
    assert len(receiver.received) == 1


def test_a_5xx_and_an_unreachable_endpoint_are_failures(receiver: Receiver) -> None:
    failed = sender().send(receiver.url("/fail"), SECRET, "m", BODY)
    assert (failed.ok, failed.status_code) == (False, 500)
    assert "internal error" in (failed.error or "")
    gone = sender().send(f"http://127.0.0.1:{free_port()}/", SECRET, "m", BODY)
    assert not gone.ok and (gone.error or "").startswith("unreachable")


def test_private_addresses_are_refused_at_connect_without_the_flag(receiver: Receiver) -> None:
    strict = sender(AddressPolicy(allow_private=False))
    for url in (receiver.url("/ok"), receiver.url("/ok", host="localhost")):
        result = strict.send(url, SECRET, "m", BODY)
        assert not result.ok and (result.error or "").startswith("refused")
    assert receiver.received == []


def test_the_connection_goes_to_the_checked_address_and_keeps_the_host_name(
    receiver: Receiver,
) -> None:
    """DNS rebinding: one lookup per connection, the address checked is the one connected to."""
    answers = iter(["127.0.0.1", "169.254.169.254"])
    lookups: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return [next(answers)]

    guarded = sender(resolver=rebinding)
    first = guarded.send(receiver.url("/ok", host="hooks.example.test"), SECRET, "m1", BODY)
    assert first.ok
    assert receiver.at("/ok")[0].headers["host"] == f"hooks.example.test:{receiver.port}"
    guarded.client.close()  # a new connection must look the name up again
    fresh = sender(resolver=rebinding)
    second = fresh.send(receiver.url("/ok", host="hooks.example.test"), SECRET, "m2", BODY)
    assert not second.ok and "metadata" in (second.error or "")
    assert lookups == ["hooks.example.test", "hooks.example.test"]
    assert len(receiver.at("/ok")) == 1


def test_a_huge_response_is_read_only_up_to_the_cap(receiver: Receiver) -> None:
    result = sender(max_response_bytes=8).send(receiver.url("/ok"), SECRET, "m", BODY)
    assert result.ok and result.body_excerpt == '{"receiv'
