"""Which workers a service's Flower counts as its own, and what happens to early events."""

from __future__ import annotations

from switchboard_shared.flower.scope import ServiceScope

PAYMENTS_QUEUES = [{"name": "payments.critical"}, {"name": "payments.events"}]
ORDERS_QUEUES = [{"name": "orders.normal"}]


def test_a_worker_is_the_services_when_it_consumes_one_of_its_queues() -> None:
    scope = ServiceScope("payments")

    scope.learn(
        {"pay@a": PAYMENTS_QUEUES, "ord@b": ORDERS_QUEUES, "odd@c": [{"name": "paymentsx"}]}
    )

    assert scope.members == ["pay@a"]
    assert (scope.verdict("pay@a"), scope.verdict("ord@b"), scope.verdict("new@d")) == (
        True,
        False,
        None,
    )


def test_events_of_an_unknown_worker_wait_and_only_members_get_them_back() -> None:
    scope = ServiceScope("payments")
    pay_events = [
        {"hostname": "pay@a", "type": "worker-online"},
        {"hostname": "pay@a", "type": "x"},
    ]
    asks = [scope.hold(event) for event in pay_events]
    scope.hold({"hostname": "ord@b", "type": "worker-online"})

    released = scope.learn({"pay@a": PAYMENTS_QUEUES, "ord@b": ORDERS_QUEUES})

    assert asks == [True, False], "one classification asked per unknown worker"
    assert released == pay_events
    assert scope.learn({"ord@b": ORDERS_QUEUES}) == []
