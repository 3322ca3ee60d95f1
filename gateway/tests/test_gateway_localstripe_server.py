"""The localstripe launcher: the same server over real HTTP and the real stripe SDK, with its
store written to its own state file at most once per interval, and loaded again on restart."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import stripe
from switchboard_shared.testsupport import free_port, provider_secrets, wait_until

pytestmark = pytest.mark.integration

API_KEY = provider_secrets()["PAYMENTS_STRIPE_API_KEY"]


@contextmanager
def launcher(state_file: Path, persist: float, *extra: str) -> Iterator[stripe.StripeClient]:
    port = free_port()
    command = [sys.executable, "-m", "switchboard_gateway.localstripe_server", "--port", str(port)]
    command += ["--state-file", str(state_file), "--persist-seconds", str(persist), *extra]
    log = state_file.with_suffix(f".{port}.log").open("wb")
    env = {**os.environ, "PAYMENTS_STRIPE_API_KEY": API_KEY}  # as `make run` starts it
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base), 30)
        yield stripe.StripeClient(API_KEY, base_addresses={"api": base})
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _answers(base: str) -> bool:
    try:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        return httpx.get(f"{base}/v1/customers", headers=headers, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_only_the_secret_key_it_was_given_is_accepted(tmp_path: Path) -> None:
    with launcher(tmp_path / "stripe.pickle", 0, "--from-scratch") as client:
        base = client._requestor.base_addresses["api"]  # type: ignore[attr-defined]
        other = {"Authorization": "Bearer sk_test_someone_else"}
        assert httpx.get(f"{base}/v1/customers", headers=other, timeout=5).status_code == 401
        assert client.v1.customers.list().data == []


def test_writes_are_saved_once_per_interval_and_loaded_on_restart(tmp_path: Path) -> None:
    state = tmp_path / "stripe.pickle"
    with launcher(state, 0.5, "--from-scratch") as client:
        first = client.v1.customers.create({"email": "a@example.com"})
        second = client.v1.customers.create({"email": "b@example.com"})
        assert not state.exists(), "nothing is written on the request path"
        wait_until(lambda: state.exists(), 10)
        saved = pickle.loads(state.read_bytes())
        assert f"customer:{first.id}" in saved and f"customer:{second.id}" in saved
    with launcher(state, 0.5) as client:
        assert client.v1.customers.retrieve(first.id).email == "a@example.com"


def test_persist_zero_never_writes(tmp_path: Path) -> None:
    state = tmp_path / "never.pickle"
    with launcher(state, 0, "--from-scratch") as client:
        intent = client.v1.payment_intents.create(
            {"amount": 1200, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
        )
        assert intent.status == "succeeded"
        time.sleep(1.0)
    assert not state.exists()


def test_lists_read_their_own_type_in_order_and_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "lists.pickle"
    with launcher(state, 0.2, "--from-scratch") as client:
        emails = [f"c{i}@example.com" for i in range(3)]
        for email in emails:
            client.v1.customers.create({"email": email})
        intent = client.v1.payment_intents.create(
            {"amount": 1200, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
        )
        latest = intent.latest_charge  # localstripe expands it
        charge = latest if isinstance(latest, str) else latest.id
        client.v1.refunds.create({"charge": charge, "amount": 200})

        listed = client.v1.customers.list({"limit": 10})
        assert [
            c.email for c in listed.data
        ] == emails  # in the store's order, as localstripe lists
        refunds = client.v1.refunds.list({"charge": charge})
        assert [r.amount for r in refunds.data] == [200]
        assert client.v1.charges.retrieve(charge).amount_refunded == 200
        wait_until(lambda: state.exists(), 10)
        time.sleep(0.5)  # the write after the refund
    with launcher(state, 0.2) as client:
        assert len(client.v1.customers.list({"limit": 10}).data) == 3
        assert client.v1.charges.retrieve(charge).amount_refunded == 200
