"""The real StripeProvider against a real localstripe process, and against a failing server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import stripe
from payments_harness import API_KEY, DECLINE, Harness, envelope, order_created
from sqlalchemy.orm import Session, sessionmaker
from switchboard_payments.adapters.stripe import StripeProvider
from switchboard_payments.commands import ReconcilePayments
from switchboard_shared.blips import TRANSIENT
from switchboard_shared.failures import FailureClass, classify
from switchboard_shared.testsupport import free_port

pytestmark = pytest.mark.integration

LOCALSTRIPE = Path(sys.executable).parent / "localstripe"


def wait_for_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {API_KEY}"})
            urllib.request.urlopen(request, timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="module")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh localstripe (`--from-scratch`: it would otherwise load /tmp/localstripe.pickle)."""
    port = free_port()
    log = (tmp_path_factory.mktemp("localstripe") / "localstripe.log").open("wb")
    process = subprocess.Popen(
        [str(LOCALSTRIPE), "--port", str(port), "--from-scratch"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/v1/payment_intents?limit=1")
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture
def stripe_provider(localstripe_url: str) -> StripeProvider:
    return StripeProvider(API_KEY, localstripe_url, timeout=10)


@pytest.fixture
def live(sqlite_db: sessionmaker[Session], stripe_provider: StripeProvider) -> Harness:
    return Harness.build(sqlite_db, stripe_provider)


def intents_of(provider: StripeProvider, order_id: str) -> list[str]:
    return [c.intent_id for c in provider.recent_intents(created_after=0) if c.order_id == order_id]


def unique(name: str) -> str:
    return f"{name}_{time.monotonic_ns()}"


def test_charge_succeeds_at_localstripe(live: Harness, stripe_provider: StripeProvider) -> None:
    order_id = unique("ord")
    live.order(order_created(order_id, amount=1999))

    payment = live.payment(order_id)
    assert payment.status == "succeeded"
    intent = stripe_provider.client.v1.payment_intents.retrieve(payment.intent_id or "")
    assert (intent.status, intent.amount, intent.metadata["order_id"]) == (
        "succeeded",
        1999,
        order_id,
    )
    assert live.types() == ["payment-succeeded", "invoice-issued"]


def test_declined_card_fails_with_its_code(live: Harness, stripe_provider: StripeProvider) -> None:
    order_id = unique("ord")
    live.order(order_created(order_id, method=DECLINE))

    payment = live.payment(order_id)
    assert (payment.status, payment.decline_code, payment.retryable) == (
        "failed",
        "card_declined",
        False,
    )
    [failed] = live.published("payment-failed")
    assert failed.data["decline_code"] == "card_declined"
    assert len(intents_of(stripe_provider, order_id)) == 1


def test_cancelled_order_is_refunded_once_at_localstripe(
    live: Harness, stripe_provider: StripeProvider
) -> None:
    order_id = unique("ord")
    live.order(order_created(order_id))
    live.cancel(order_id)
    live.cancel(order_id)

    payment = live.payment(order_id)
    assert payment.status == "refunded"
    refunds = stripe_provider.client.v1.refunds.list(
        params={"payment_intent": payment.intent_id or ""}
    )
    assert [r.id for r in refunds.data] == [payment.refund_id]
    assert live.types().count("payment-refunded") == 1


def test_reconciliation_settles_from_intents_listed_at_localstripe(
    live: Harness, stripe_provider: StripeProvider
) -> None:
    """Charged at localstripe, our side never heard: reconciliation finds it by order id."""
    order_id = unique("ord")

    class LosesResponses(StripeProvider):
        def charge(self, **kwargs):  # type: ignore[no-untyped-def]
            super().charge(**kwargs)
            raise stripe.APIConnectionError("read timed out")

    live.service.registry.provide(
        payments=LosesResponses(API_KEY, stripe_provider_base(stripe_provider))
    )
    with pytest.raises(stripe.APIConnectionError):
        live.order(order_created(order_id))
    live.service.registry.provide(payments=stripe_provider)
    assert live.payment(order_id).status == "processing"

    result = live.bus.send(ReconcilePayments(lookback_hours=1))

    assert result["fixed"] == 1 and result["mismatches"] == 0
    assert live.payment(order_id).status == "succeeded"
    assert len(intents_of(stripe_provider, order_id)) == 1


def test_redelivery_after_a_lost_response_does_not_charge_twice_at_localstripe(
    live: Harness, stripe_provider: StripeProvider
) -> None:
    """localstripe ignores idempotency keys: only our claim and look-up prevent a second intent."""
    order_id = unique("ord")
    base = stripe_provider_base(stripe_provider)

    class LosesResponses(StripeProvider):
        def charge(self, **kwargs):  # type: ignore[no-untyped-def]
            super().charge(**kwargs)
            raise stripe.APIConnectionError("read timed out")

    env = envelope(order_created(order_id))
    live.service.registry.provide(payments=LosesResponses(API_KEY, base))
    with pytest.raises(stripe.APIConnectionError):
        live.deliver(env)
    live.service.registry.provide(payments=stripe_provider)
    live.deliver(env)

    assert live.payment(order_id).status == "succeeded"
    assert len(intents_of(stripe_provider, order_id)) == 1


def stripe_provider_base(provider: StripeProvider) -> str:
    return str(provider.client._requestor.base_addresses["api"])  # type: ignore[attr-defined]


class FailingStripe(BaseHTTPRequestHandler):
    """Answers every request with a 500, or never in time (`server.sleep`)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests += 1  # type: ignore[attr-defined]
        if self.server.sleep:  # type: ignore[attr-defined]
            time.sleep(self.server.sleep)  # type: ignore[attr-defined]
        body = json.dumps({"error": {"type": "api_error", "message": "boom"}}).encode()
        try:
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up waiting (the timeout case)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_stripe() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), FailingStripe)
    server.requests = 0  # type: ignore[attr-defined]
    server.sleep = 0.0  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("sleep", "expected"), [(0.0, FailureClass.PROVIDER_5XX), (2.0, FailureClass.NETWORK)]
)
def test_provider_answering_500_or_too_late_is_retried_then_succeeds(
    sqlite_db: sessionmaker[Session],
    failing_stripe: ThreadingHTTPServer,
    stripe_provider: StripeProvider,
    sleep: float,
    expected: FailureClass,
) -> None:
    failing_stripe.sleep = sleep  # type: ignore[attr-defined]
    host, port = failing_stripe.server_address[:2]
    broken = StripeProvider(API_KEY, f"http://{host}:{port}", timeout=0.5)
    harness = Harness.build(sqlite_db, broken)
    order_id = unique("ord")
    env = envelope(order_created(order_id))

    with pytest.raises(stripe.StripeError) as raised:
        harness.deliver(env)
    assert classify(raised.value) is expected and expected in TRANSIENT
    assert failing_stripe.requests == 1  # type: ignore[attr-defined]  (no blind re-send)
    assert harness.payment(order_id).status == "processing"

    harness.service.registry.provide(payments=stripe_provider)  # Stripe is back
    harness.deliver(env)  # the kit's retry
    assert harness.payment(order_id).status == "succeeded"
    assert len(intents_of(stripe_provider, order_id)) == 1
