"""The per-service Flower launcher's decisions: ports, addresses, credentials, refusals."""

from __future__ import annotations

import pytest
from switchboard_shared.flower.__main__ import main
from switchboard_shared.flower.plan import FLOWER_PORTS, Refused, check, plan_flower


def test_each_service_has_its_own_port_on_loopback_by_default() -> None:
    plans = [plan_flower(service, {}) for service in FLOWER_PORTS]

    assert [plan.port for plan in plans] == [5551, 5552, 5553, 5554, 5555]
    assert {plan.address for plan in plans} == {"127.0.0.1"}
    assert plans[1].app == "switchboard_payments.app"


def test_per_service_credentials_win_over_the_shared_ones() -> None:
    env = {"FLOWER_BASIC_AUTH": "all:shared-pw", "PAYMENTS_FLOWER_BASIC_AUTH": "pay:pay-pw,b:c"}

    assert plan_flower("payments", env).basic_auth == ("pay:pay-pw", "b:c")
    assert plan_flower("orders", env).basic_auth == ("all:shared-pw",)


def test_port_and_address_come_from_flags_then_env() -> None:
    env = {"ORDERS_FLOWER_PORT": "6000", "FLOWER_ADDRESS": "0.0.0.0"}

    assert (plan_flower("orders", env).port, plan_flower("orders", env).address) == (
        6000,
        "0.0.0.0",
    )
    flagged = plan_flower("orders", env, port=7000, address="::1")
    assert (flagged.port, flagged.address) == (7000, "::1")


@pytest.mark.parametrize("value", ["admin", ":pw", "admin:", "a:b,nopassword"])
def test_malformed_credentials_are_refused(value: str) -> None:
    with pytest.raises(Refused, match="user:password"):
        plan_flower("email", {"FLOWER_BASIC_AUTH": value})


def test_no_credentials_is_refused_outside_standalone_mode() -> None:
    with pytest.raises(Refused, match="without credentials"):
        check(plan_flower("payments", {}))


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "10.1.2.3", "flower.internal"])
def test_standalone_without_credentials_must_bind_loopback(address: str) -> None:
    plan = plan_flower("payments", {"FLOWER_ADDRESS": address}, standalone=True)

    with pytest.raises(Refused, match="loopback only"):
        check(plan)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_standalone_on_loopback_may_run_without_credentials(address: str) -> None:
    check(plan_flower("payments", {}, address=address, standalone=True))


def test_the_launcher_exits_2_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reports", "--address", "0.0.0.0", "--standalone"]) == 2

    assert "loopback only" in capsys.readouterr().err
