"""Issue 17, item 2: secrets with published defaults, and a Stripe event for another amount.

The attacks: `whsec_switchboard_local`, `switchboard_local_twilio_token` and
`sk_test_switchboard` were live defaults, so a deploy that forgot a variable accepted
callbacks forged with the published value; the compose and k8s files never asked for
TWILIO_AUTH_TOKEN. And anyone who can create a PaymentIntent can name any order in its
metadata: a succeeded intent for one cent marked someone else's order paid.

After: every process refuses to start without its secrets (one line, exit 2), only `make run`
makes local ones (random per data folder), the deploy files require them, and an intent whose
amount or currency differs from the payment's never moves it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.standalone.children import local_providers
from switchboard_integrations.config import IntegrationsSettings
from switchboard_payments.adapters.stripe import StripeProvider
from switchboard_payments.bootstrap import bootstrap
from switchboard_payments.config import PaymentsSettings
from switchboard_payments.models import Base, Payment
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.gateway import StripeEventReceived
from switchboard_shared.envelopes import wrap
from switchboard_shared.required import load_settings
from switchboard_shared.testing import InProcessBus, InProcessService, sample_order_created
from switchboard_shared.testsupport import (
    database_sessions,
    free_port,
    provider_secrets,
    redis_database,
    terminate,
    wait_until,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = {
    "STRIPE_WEBHOOK_SECRET": "whsec_switchboard_local",
    "TWILIO_AUTH_TOKEN": "switchboard_local_twilio_token",
    "PAYMENTS_STRIPE_API_KEY": "sk_test_switchboard",
}
START_SECONDS = 90.0


def environment(tmp_path: Path, broker: str, missing: str, empty: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PUBLISHED}
    env |= {**provider_secrets(), "SWITCHBOARD_BROKER_URL": broker}
    env |= {"SWITCHBOARD_DATA_DIR": str(tmp_path), "SWITCHBOARD_API_KEYS": "k"}
    del env[missing]
    if empty:
        env[missing] = ""
    return env


def forged_stripe_call(url: str) -> int:
    """The published default's signature on an event for an order the attacker names."""
    body = '{"id": "evt_forged", "type": "payment_intent.succeeded", "created": 1, "data": {}}'
    header = stripe.WebhookSignature.generate_signature_header(
        body, PUBLISHED["STRIPE_WEBHOOK_SECRET"]
    )
    headers = {"Stripe-Signature": header, "Content-Type": "application/json"}
    return httpx.post(f"{url}/webhooks/stripe", content=body, headers=headers).status_code


def run_until_exit_or_up(command: list[str], env: dict[str, str], url: str | None) -> str:
    """Start the process as a deploy would; if it comes up, attack it; return its stderr."""
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + START_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            if url is not None and _answers(url):
                status = forged_stripe_call(url)
                pytest.fail(f"started without its secret; a forged callback got {status}")
            time.sleep(0.3)
        assert process.poll() is not None, "still running without its secret"
        assert process.returncode == 2
        return process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            terminate(process)  # type: ignore[arg-type]


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def gateway_command(port: int) -> list[str]:
    return [sys.executable, "-m", "switchboard_gateway.serve", "--port", str(port)]


def worker_command(app: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", app, "worker", "-l", "INFO"]


PROCESSES = [
    pytest.param("gateway", "switchboard-gateway", "STRIPE_WEBHOOK_SECRET", id="gateway-stripe"),
    pytest.param(
        "gateway",
        "switchboard-gateway",
        "TWILIO_AUTH_TOKEN",
        id="gateway-twilio",
        marks=pytest.mark.slow,  # the same process as gateway-stripe: `make test-slow`
    ),
    pytest.param(
        "switchboard_payments.app",
        "switchboard-payments",
        "PAYMENTS_STRIPE_API_KEY",
        id="payments-stripe-key",
    ),
    pytest.param(
        "switchboard_integrations.app",
        "switchboard-integrations",
        "TWILIO_AUTH_TOKEN",
        id="integrations-twilio",
    ),
]


EMPTY_SECRETS = [
    pytest.param(GatewaySettings, "STRIPE_WEBHOOK_SECRET", id="gateway-stripe"),
    pytest.param(GatewaySettings, "TWILIO_AUTH_TOKEN", id="gateway-twilio"),
    pytest.param(PaymentsSettings, "PAYMENTS_STRIPE_API_KEY", id="payments-stripe-key"),
    pytest.param(IntegrationsSettings, "TWILIO_AUTH_TOKEN", id="integrations-twilio"),
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("process", "program", "variable"), PROCESSES)
def test_a_process_without_its_secret_refuses_to_start_in_one_line(
    tmp_path: Path, process: str, program: str, variable: str
) -> None:
    """A real process each (an empty value is refused the same way: see below)."""
    with redis_database() as broker:
        env = environment(tmp_path, broker, variable, empty=False)
        if process == "gateway":
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            stderr = run_until_exit_or_up(gateway_command(port), env, url)
        else:
            stderr = run_until_exit_or_up(worker_command(process), env, None)

    assert stderr.strip().splitlines() == [f"{program}: {variable} is not set"]
    assert "Traceback" not in stderr


@pytest.mark.parametrize(("settings", "variable"), EMPTY_SECRETS)
def test_an_empty_secret_is_refused_like_a_missing_one(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: Any,
    variable: str,
) -> None:
    for name, value in provider_secrets().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(variable, "")
    with pytest.raises(SystemExit) as exit_:
        load_settings(settings, "switchboard-test")
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"switchboard-test: {variable} is not set"
    ]


def test_no_published_default_secret_is_left_in_the_shipped_code() -> None:
    shipped = [ROOT / "shared" / "src", ROOT / "gateway" / "src", ROOT / "compose"]
    shipped += sorted((ROOT / "services").glob("*/src"))
    found = [
        f"{path.relative_to(ROOT)}: {value}"
        for folder in shipped
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in (".py", ".yml", ".yaml", ".example", "")
        for value in PUBLISHED.values()
        if value in path.read_text(errors="replace")
    ]
    assert found == []


def compose_env(service: str) -> dict[str, str]:
    stack = yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text())
    return {k: str(v) for k, v in stack["services"][service]["environment"].items()}


def k8s_required(deployable: str, component: str) -> set[str]:
    docs = yaml.safe_load_all((ROOT / "compose" / "k8s" / f"{deployable}.yaml").read_text())
    [deployment] = [
        d
        for d in docs
        if d and d["kind"] == "Deployment" and d["metadata"]["name"] == f"{deployable}-{component}"
    ]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    refs = [e["valueFrom"]["secretKeyRef"] for e in container.get("env", []) if "valueFrom" in e]
    return {
        r["key"] for r in refs if r["name"] == f"switchboard-{deployable}" and not r["optional"]
    }


REQUIRED = {
    ("gateway", "gateway", "api"): {"STRIPE_WEBHOOK_SECRET", "TWILIO_AUTH_TOKEN"},
    ("payments", "payments-worker", "worker"): {"PAYMENTS_STRIPE_API_KEY"},
    ("integrations", "integrations-worker", "worker"): {"TWILIO_AUTH_TOKEN"},
}


@pytest.mark.parametrize(("deployable", "service", "component"), list(REQUIRED))
def test_the_deploy_files_require_every_provider_secret(
    deployable: str, service: str, component: str
) -> None:
    needed = REQUIRED[(deployable, service, component)]
    env = compose_env(service)
    for name in needed:
        assert env.get(name, "").startswith(f"${{{name}:?"), f"compose {service}: {name}"
    assert needed <= k8s_required(deployable, component), f"k8s {deployable}-{component}"
    example = (ROOT / "compose" / f"{deployable}.env.example").read_text().splitlines()
    for name in needed:
        assert f"{name}=" in example, f"{deployable}.env.example must list {name}, empty"


def test_make_run_makes_random_secrets_per_data_folder_kept_private(tmp_path: Path) -> None:
    first, again, other = {}, {}, {}
    local_providers(first, tmp_path / "a")
    local_providers(again, tmp_path / "a")
    local_providers(other, tmp_path / "b")

    for name, published in PUBLISHED.items():
        assert first[name] and first[name] != published
        assert again[name] == first[name], "kept for the next start of the same folder"
        assert other[name] != first[name], "random per data folder"
    [kept] = [p for p in (tmp_path / "a").iterdir() if p.is_file()]
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


@contextmanager
def localstripe(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    """The launcher's localstripe, given `env` (its secret key among it)."""
    port = free_port()
    command = [sys.executable, "-m", "switchboard_gateway.localstripe_server"]
    command += ["--port", str(port), "--from-scratch", "--persist-seconds", "0"]
    log = (tmp_path / "localstripe.log").open("wb")
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        key = env["PAYMENTS_STRIPE_API_KEY"]
        wait_until(lambda: _stripe_status(url, key) == 200, 60, 0.2)
        yield url
    finally:
        terminate(process)  # type: ignore[arg-type]
        log.close()


@pytest.fixture
def make_run_localstripe(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """localstripe as `make run` starts it, with the environment it hands the services."""
    env: dict[str, str] = {}
    local_providers(env, tmp_path)
    with localstripe(tmp_path, env) as url:
        yield url, env


def _stripe_status(url: str, key: str) -> int:
    try:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.get(f"{url}/v1/customers", headers=headers, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_make_run_localstripe_takes_only_the_key_it_handed_payments(
    make_run_localstripe: tuple[str, dict[str, str]],
) -> None:
    url, env = make_run_localstripe
    assert _stripe_status(url, env["PAYMENTS_STRIPE_API_KEY"]) == 200
    assert _stripe_status(url, PUBLISHED["PAYMENTS_STRIPE_API_KEY"]) == 401


# -- a real Stripe intent for another amount, naming the victim's order -------------------


def payments_service(db: sessionmaker[Session], url: str, key: str) -> InProcessBus:
    settings = PaymentsSettings(stripe_api_key=key, stripe_api_base=url)
    registry = bootstrap(settings, StripeProvider(key, url, timeout=10))
    return InProcessBus(InProcessService("payments", registry, session_factory=db))


def attacker_intent(url: str, key: str, order_id: str, amount: int, currency: str) -> dict:  # type: ignore[type-arg]
    client = stripe.StripeClient(key, base_addresses={"api": url})
    intent = client.v1.payment_intents.create(
        {
            "amount": amount,
            "currency": currency,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"order_id": order_id},
        }
    )
    assert intent.status == "succeeded"
    return intent.to_dict()


@pytest.mark.parametrize(("amount", "currency"), [(1, "usd"), (2500, "jpy")], ids=["cent", "yen"])
def test_a_succeeded_intent_for_another_amount_never_pays_the_order(
    database_url: str, tmp_path: Path, amount: int, currency: str
) -> None:
    key = provider_secrets()["PAYMENTS_STRIPE_API_KEY"]
    with localstripe(tmp_path, {"PAYMENTS_STRIPE_API_KEY": key}) as url:
        published, payment, forged_id = pay_with_another_amount(
            database_url, url, key, amount, currency
        )
    assert payment.status == "failed", "declined card, still unpaid"
    assert payment.intent_id != forged_id
    assert payment.mismatch and str(amount) in payment.mismatch
    assert "payment-succeeded" not in published
    assert "payment-reconciliation-mismatch" in published


def pay_with_another_amount(
    database_url: str, url: str, key: str, amount: int, currency: str
) -> tuple[list[str], Payment, str]:
    """The victim's card is declined; the attacker's own intent names the victim's order."""
    victim = sample_order_created(
        "ord_victim", amount=2500, currency="usd", payment_method="pm_card_chargeCustomerFail"
    )
    with database_sessions(database_url, Base.metadata) as db:
        bus = payments_service(db, url, key)
        bus.deliver(wrap(victim, service="orders", context=MessageContext.new("ord_victim")))
        bus.run()
        forged = StripeEventReceived(
            stripe_event_id="evt_attacker",
            stripe_type="payment_intent.succeeded",
            object=attacker_intent(url, key, "ord_victim", amount, currency),
            created=int(time.time()),
        )
        bus.deliver(wrap(forged, service="gateway", context=MessageContext.new("ord_victim")))
        bus.run()

        with db() as session:
            payment = session.scalars(select(Payment)).one()
    published = [e.type for e in bus.log if e.source == "/switchboard/payments"]
    return published, payment, str(forged.object["id"])
