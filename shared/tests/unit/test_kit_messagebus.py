"""Handlers and their dispatch, proven with the in-memory unit of work."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts import Envelope
from switchboard_shared.contracts.orders import CreateOrder, Customer, OrderItem
from switchboard_shared.contracts.payments import PaymentFailed, PaymentSucceeded, RefundPayment
from switchboard_shared.envelopes import wrap
from switchboard_shared.messagebus import (
    HandlerRegistry,
    handle_command,
    handle_event,
    handler_name,
)
from switchboard_shared.testing import FakeStore, FakeUnitOfWork, RecordingPublisher

SERVICE = "ledger"


class Boom(RuntimeError):
    pass


def factory(store: FakeStore):  # type: ignore[no-untyped-def]
    def make(context: MessageContext) -> FakeUnitOfWork:
        return FakeUnitOfWork(store, service=SERVICE, context=context)

    return make


def succeeded_envelope(order_id: str = "ord_1") -> Envelope:
    event = PaymentSucceeded(
        payment_id=f"pay_{order_id}", order_id=order_id, amount=100, currency="usd"
    )
    return wrap(event, service="payments", context=MessageContext.new(order_id))


def credit(event: PaymentSucceeded, uow: FakeUnitOfWork) -> None:
    uow.data[f"credit:{event.order_id}"] = (
        uow.data.get(f"credit:{event.order_id}", 0) + event.amount
    )
    uow.publish(
        PaymentFailed(payment_id=event.payment_id, order_id=event.order_id, reason="echo"),
        subject=event.order_id,
    )


def count(event: PaymentSucceeded, uow: FakeUnitOfWork) -> None:
    uow.data["count"] = uow.data.get("count", 0) + 1


def write_then_fail(event: PaymentSucceeded, uow: FakeUnitOfWork) -> None:
    uow.data["half-done"] = True
    uow.publish(PaymentFailed(payment_id=event.payment_id, order_id=event.order_id, reason="x"))
    raise Boom("provider exploded")


def with_clock(event: PaymentSucceeded, uow: FakeUnitOfWork, clock: Any, label: str) -> None:
    uow.data["stamped"] = (clock(), label)


def counting_registry(*handlers: Any) -> HandlerRegistry:
    registry = HandlerRegistry()
    for fn in handlers:
        registry.on(PaymentSucceeded)(fn)
    return registry


# --- events ---------------------------------------------------------------------------


def test_handler_writes_and_events_commit_together() -> None:
    store = FakeStore()
    registry = counting_registry(count)
    envelope = succeeded_envelope()

    ran = handle_event(envelope, registry, factory(store))

    assert ran == [handler_name(count)]
    assert store.data == {"count": 1}
    assert (envelope.id, handler_name(count)) in store.inbox


def test_published_events_carry_the_flow_of_the_event_that_caused_them() -> None:
    store = FakeStore()
    envelope = succeeded_envelope("ord_42")
    handle_event(envelope, counting_registry(credit), factory(store))

    [published] = store.publisher.published
    assert published["type"] == "payment-failed"
    assert published["source"] == f"/switchboard/{SERVICE}"
    assert published["correlationid"] == "ord_42"
    assert published["causationid"] == envelope.id
    assert published["traceparent"] == envelope.traceparent
    assert published["subject"] == "ord_42"


def test_duplicate_event_id_is_a_no_op() -> None:
    store = FakeStore()
    registry = counting_registry(count)
    envelope = succeeded_envelope()

    handle_event(envelope, registry, factory(store))
    again = handle_event(
        Envelope.model_validate(envelope.model_dump(mode="json")), registry, factory(store)
    )

    assert again == []
    assert store.data == {"count": 1}


def test_a_new_event_id_with_the_same_data_is_handled_again() -> None:
    store = FakeStore()
    registry = counting_registry(count)
    handle_event(succeeded_envelope(), registry, factory(store))
    handle_event(succeeded_envelope(), registry, factory(store))
    assert store.data == {"count": 2}


def test_handler_exception_rolls_back_its_writes_and_its_events() -> None:
    store = FakeStore(data={"before": 1})
    registry = counting_registry(write_then_fail)
    envelope = succeeded_envelope()

    with pytest.raises(Boom):
        handle_event(envelope, registry, factory(store))

    assert store.data == {"before": 1}
    assert store.publisher.published == []
    assert store.inbox == {}, "a failed handler is not recorded as handled"


def test_failed_handler_runs_again_on_redelivery() -> None:
    store = FakeStore()
    attempts: list[int] = []

    def flaky(event: PaymentSucceeded, uow: FakeUnitOfWork) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("blip")
        uow.data["done"] = True

    registry = counting_registry(flaky)
    envelope = succeeded_envelope()
    with pytest.raises(ConnectionError):
        handle_event(envelope, registry, factory(store))
    assert handle_event(envelope, registry, factory(store)) == [handler_name(flaky)]
    assert store.data == {"done": True}
    assert len(attempts) == 2


def test_two_handlers_for_one_event_each_run_once() -> None:
    store = FakeStore()
    calls: list[str] = []

    def first(event: PaymentSucceeded, uow: FakeUnitOfWork) -> None:
        calls.append("first")

    def second(event: PaymentSucceeded, uow: FakeUnitOfWork) -> None:
        calls.append("second")

    registry = counting_registry(first, second)
    envelope = succeeded_envelope()
    assert handle_event(envelope, registry, factory(store)) == [
        handler_name(first),
        handler_name(second),
    ]
    assert handle_event(envelope, registry, factory(store)) == []
    assert calls == ["first", "second"]


def test_redelivery_after_second_handler_failed_runs_only_the_second() -> None:
    store = FakeStore()
    calls: list[str] = []
    fail = [True]

    def first(event: PaymentSucceeded, uow: FakeUnitOfWork) -> None:
        calls.append("first")

    def second(event: PaymentSucceeded, uow: FakeUnitOfWork) -> None:
        calls.append("second")
        if fail[0]:
            raise TimeoutError("slow provider")

    registry = counting_registry(first, second)
    envelope = succeeded_envelope()
    with pytest.raises(TimeoutError):
        handle_event(envelope, registry, factory(store))
    fail[0] = False
    assert handle_event(envelope, registry, factory(store)) == [handler_name(second)]
    assert calls == ["first", "second", "second"]


def test_event_nobody_handles_runs_nothing() -> None:
    store = FakeStore()
    registry = HandlerRegistry()
    registry.on(PaymentFailed)(count)
    assert handle_event(succeeded_envelope(), registry, factory(store)) == []
    assert store.data == {}


def test_invalid_event_data_is_refused_before_any_handler_runs() -> None:
    store = FakeStore()
    envelope = succeeded_envelope()
    envelope.data["amount"] = "many"
    with pytest.raises(pydantic.ValidationError):
        handle_event(envelope, counting_registry(count), factory(store))
    assert store.data == {}


def test_one_handler_can_subscribe_to_several_events() -> None:
    registry = HandlerRegistry()
    registry.on(PaymentSucceeded, PaymentFailed)(count)
    assert registry.subscriptions == ["payment-failed", "payment-succeeded"]


# --- dependencies ---------------------------------------------------------------------


def test_handlers_get_the_dependencies_they_name() -> None:
    store = FakeStore()
    registry = counting_registry(with_clock)
    registry.provide(clock=lambda: 1234, label="from-bootstrap")
    handle_event(succeeded_envelope(), registry, factory(store))
    assert store.data["stamped"] == (1234, "from-bootstrap")


def test_a_missing_dependency_is_a_clear_error_and_writes_nothing() -> None:
    store = FakeStore()
    registry = counting_registry(with_clock)
    registry.provide(label="only-this")
    with pytest.raises(LookupError) as info:
        handle_event(succeeded_envelope(), registry, factory(store))
    message = str(info.value)
    assert handler_name(with_clock) in message
    assert "clock" in message
    assert "label" not in message
    assert "registry.provide()" in message
    assert store.inbox == {}


def test_provide_again_replaces_a_dependency() -> None:
    store = FakeStore()
    registry = counting_registry(with_clock)
    registry.provide(clock=lambda: 1, label="a")
    registry.provide(clock=lambda: 2)
    handle_event(succeeded_envelope(), registry, factory(store))
    assert store.data["stamped"] == (2, "a")


# --- commands -------------------------------------------------------------------------


def create_payload(order_id: str = "ord_1") -> dict[str, Any]:
    command = CreateOrder(
        order_id=order_id,
        customer=Customer(email="a@example.com"),
        category="flowers",
        region="eu",
        items=[OrderItem(sku="rose", quantity=2, unit_amount=500)],
        currency="eur",
    )
    return command.model_dump(mode="json")


def command_registry(calls: list[str]) -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.command(CreateOrder)
    def create(command: CreateOrder, uow: FakeUnitOfWork) -> dict[str, Any]:
        calls.append(command.order_id)
        uow.data[command.order_id] = "pending_payment"
        return {"order_id": command.order_id, "n": len(calls)}

    return registry


def test_command_runs_its_one_handler_and_returns_its_result() -> None:
    store, calls = FakeStore(), []
    registry = command_registry(calls)
    result = handle_command(
        "orders.create",
        create_payload(),
        "msg-1",
        MessageContext.new("ord_1"),
        registry,
        factory(store),
    )
    assert result == {"order_id": "ord_1", "n": 1}
    assert store.data == {"ord_1": "pending_payment"}


def test_duplicate_command_message_returns_the_first_result_without_running_again() -> None:
    store, calls = FakeStore(), []
    registry = command_registry(calls)
    args = ("orders.create", create_payload(), "msg-1", MessageContext.new("ord_1"), registry)
    first = handle_command(*args, factory(store))
    second = handle_command(*args, factory(store))
    assert second == first
    assert calls == ["ord_1"]


def test_an_idempotent_command_runs_again_and_answers_for_itself_keeping_no_inbox_row() -> None:
    store, calls = FakeStore(), []
    registry = HandlerRegistry()

    @registry.command(CreateOrder, idempotent=True)
    def create(command: CreateOrder, uow: FakeUnitOfWork) -> dict[str, Any]:
        calls.append(command.order_id)
        known = command.order_id in uow.data
        uow.data.setdefault(command.order_id, "pending_payment")
        return {"order_id": command.order_id, "known": known}

    args = ("orders.create", create_payload(), "msg-1", MessageContext.new("ord_1"), registry)
    first = handle_command(*args, factory(store))
    second = handle_command(*args, factory(store))

    assert (first["known"], second["known"]) == (False, True)
    assert calls == ["ord_1", "ord_1"]
    assert store.inbox == {}, "no inbox claim"


def test_invalid_command_payload_never_reaches_the_handler() -> None:
    store, calls = FakeStore(), []
    payload = create_payload()
    payload["items"] = []
    with pytest.raises(pydantic.ValidationError, match="items"):
        handle_command(
            "orders.create",
            payload,
            "m",
            MessageContext.new("c"),
            command_registry(calls),
            factory(store),
        )
    assert calls == []


def test_failing_command_writes_nothing_and_can_run_again() -> None:
    store = FakeStore()
    registry = HandlerRegistry()
    fail = [True]

    @registry.command(RefundPayment)
    def refund(command: RefundPayment, uow: FakeUnitOfWork) -> str:
        uow.data["refunded"] = command.order_id
        if fail[0]:
            raise Boom("no")
        return "ok"

    args = ("payments.refund", {"order_id": "o"}, "m1", MessageContext.new("o"), registry)
    with pytest.raises(Boom):
        handle_command(*args, factory(store))
    assert store.data == {}
    fail[0] = False
    assert handle_command(*args, factory(store)) == "ok"
    assert store.data == {"refunded": "o"}


def test_a_command_has_exactly_one_handler() -> None:
    registry = command_registry([])
    with pytest.raises(ValueError, match=r"orders\.create already has a handler"):
        registry.command(CreateOrder)(lambda command, uow: None)


# --- the harness itself -----------------------------------------------------------------


def test_recording_publisher_acts_like_a_down_broker_when_told() -> None:
    publisher = RecordingPublisher()
    publisher.fail = True
    with pytest.raises(ConnectionError):
        publisher.publish([{"type": "x"}])
    publisher.fail = False
    publisher.publish([{"type": "x"}])
    assert publisher.types == ["x"]


def test_fake_unit_of_work_without_commit_keeps_nothing() -> None:
    store = FakeStore()
    with FakeUnitOfWork(store, service=SERVICE, context=MessageContext.new("c")) as uow:
        uow.data["x"] = 1
        uow.record_handled("m", "h")
        uow.publish(PaymentFailed(payment_id="p", order_id="o", reason="r"))
    assert store.data == {} and store.inbox == {} and store.publisher.published == []
