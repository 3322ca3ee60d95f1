"""The published language: CloudEvents envelopes, the event catalog, wrap and unwrap."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from datetime import UTC, datetime
from types import ModuleType

import pydantic
import pytest
from switchboard_shared import contracts
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts import (
    COMMANDS,
    EVENTS,
    Command,
    Envelope,
    Event,
    UnknownEventType,
    event_spec,
)
from switchboard_shared.contracts.orders import OrderCreated
from switchboard_shared.contracts.payments import PaymentFailed, PaymentSucceeded
from switchboard_shared.envelopes import unwrap, wrap

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


def _contract_modules() -> dict[str, ModuleType]:
    """Every module of the published language that names a producer, found on disk."""
    found = {}
    for info in pkgutil.iter_modules(contracts.__path__):
        module = importlib.import_module(f"{contracts.__name__}.{info.name}")
        if hasattr(module, "PRODUCER"):
            found[module.PRODUCER] = module
    return found


CONTRACT_MODULES = _contract_modules()
SERVICE_QUEUES = {
    "payments": {"payments.critical", "payments.normal", "payments.batch"},
    "orders": {"orders.critical", "orders.normal"},
    "email": {"email.urgent", "email.normal", "email.bulk"},
    "reports": {"reports.interactive", "reports.batch"},
    "integrations": {
        "integrations.normal",
        "integrations.webhooks",
        "integrations.sms",
        "integrations.sync",
    },
}


def succeeded() -> PaymentSucceeded:
    return PaymentSucceeded(payment_id="pay_1", order_id="ord_1", amount=2599, currency="usd")


def all_event_models() -> list[type[Event]]:
    return [
        value
        for module in CONTRACT_MODULES.values()
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Event) and value is not Event
    ]


# The contract modules' types, not the catalog's: a test module collected earlier may have
# registered its probes' types there (`register_event`).
CONTRACT_EVENT_TYPES = sorted({model.type for model in all_event_models()})


# --- envelope -------------------------------------------------------------------------


def test_envelope_carries_cloudevents_attributes_and_extensions() -> None:
    context = MessageContext.new("ord_1", causation_id="cmd-7")
    envelope = wrap(succeeded(), service="payments", context=context, subject="ord_1")
    dumped = envelope.model_dump(mode="json")

    assert dumped["specversion"] == "1.0"
    assert dumped["id"]
    assert dumped["source"] == "/switchboard/payments"
    assert dumped["type"] == "payment-succeeded"
    assert dumped["subject"] == "ord_1"
    assert dumped["datacontenttype"] == "application/json"
    assert datetime.fromisoformat(dumped["time"]).tzinfo is not None
    assert dumped["correlationid"] == "ord_1"
    assert dumped["causationid"] == "cmd-7"
    assert dumped["traceparent"] == context.traceparent
    assert TRACEPARENT.match(dumped["traceparent"])
    assert dumped["data"] == {
        "payment_id": "pay_1",
        "order_id": "ord_1",
        "amount": 2599,
        "currency": "usd",
    }
    json.dumps(dumped)  # the whole envelope is plain JSON


def test_each_envelope_gets_its_own_id() -> None:
    context = MessageContext.new("ord_1")
    first = wrap(succeeded(), service="payments", context=context)
    second = wrap(succeeded(), service="payments", context=context)
    assert first.id != second.id


def test_routing_key_is_producer_dot_type() -> None:
    envelope = wrap(succeeded(), service="payments", context=MessageContext.new("c"))
    assert envelope.producer == "payments"
    assert envelope.routing_key() == "payments.payment-succeeded"


def test_producer_is_the_last_segment_of_source_even_with_trailing_slash() -> None:
    envelope = Envelope(
        source="/switchboard/orders/", type="order-created", correlationid="c", data={}
    )
    assert envelope.producer == "orders"
    assert envelope.routing_key() == "orders.order-created"


def test_context_without_traceparent_gets_a_fresh_one() -> None:
    envelope = wrap(succeeded(), service="payments", context=MessageContext("ord_1"))
    assert TRACEPARENT.match(envelope.traceparent)


def test_envelope_requires_source_type_correlation_and_data() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        Envelope.model_validate({"specversion": "1.0"})
    missing = {error["loc"][0] for error in info.value.errors()}
    assert {"source", "type", "correlationid", "data"} <= missing


def test_envelope_refuses_another_specversion_or_content_type() -> None:
    base = {"source": "/switchboard/x", "type": "t", "correlationid": "c", "data": {}}
    with pytest.raises(pydantic.ValidationError):
        Envelope.model_validate({**base, "specversion": "0.3"})
    with pytest.raises(pydantic.ValidationError):
        Envelope.model_validate({**base, "datacontenttype": "text/xml"})


def test_context_caused_by_an_envelope_continues_its_flow() -> None:
    envelope = wrap(succeeded(), service="payments", context=MessageContext.new("ord_1"))
    context = MessageContext.caused_by(envelope)
    assert context.correlation_id == "ord_1"
    assert context.causation_id == envelope.id
    assert context.traceparent == envelope.traceparent
    assert context.occurred_at == envelope.time

    follow_up = wrap(
        PaymentFailed(payment_id="p", order_id="ord_1", reason="x"),
        service="payments",
        context=context,
    )
    assert follow_up.correlationid == "ord_1"
    assert follow_up.causationid == envelope.id


# --- catalog --------------------------------------------------------------------------


def test_catalog_has_every_event_model_of_every_contract_module() -> None:
    models = all_event_models()
    # `register_event` may add test-only types (the bus probes); every contract type is there.
    assert {model.type: model for model in models}.items() <= {
        t: spec.model for t, spec in EVENTS.items()
    }.items()
    assert len({model.type for model in models}) == len(set(models)), "two models share a type"


@pytest.mark.parametrize("event_type", CONTRACT_EVENT_TYPES)
def test_every_event_type_has_model_producer_version_and_schema(event_type: str) -> None:
    spec = event_spec(event_type)
    assert spec.type == event_type
    assert spec.model.type == event_type
    assert spec.producer in CONTRACT_MODULES
    assert spec.producer == CONTRACT_MODULES[spec.producer].PRODUCER
    assert spec.model in vars(CONTRACT_MODULES[spec.producer]).values()
    assert isinstance(spec.version, int) and spec.version >= 1
    schema = spec.schema()
    assert schema["type"] == "object"
    assert schema["properties"], "an event with no fields"
    json.dumps(schema)


@pytest.mark.parametrize("event_type", CONTRACT_EVENT_TYPES)
def test_event_types_are_kebab_case(event_type: str) -> None:
    assert re.fullmatch(r"[a-z]+(-[a-z]+)+", event_type)


def test_unknown_event_type_raises_with_the_name() -> None:
    with pytest.raises(UnknownEventType, match="no-such-thing"):
        event_spec("no-such-thing")


@pytest.mark.parametrize("task_name", sorted(COMMANDS))
def test_every_command_is_named_and_queued_on_its_own_service(task_name: str) -> None:
    model = COMMANDS[task_name]
    assert issubclass(model, Command)
    service, _, verb = task_name.partition(".")
    assert verb
    assert model.queue in SERVICE_QUEUES[service]
    assert model in vars(CONTRACT_MODULES[service]).values()


def test_events_and_commands_are_immutable() -> None:
    event = succeeded()
    with pytest.raises(pydantic.ValidationError):
        event.amount = 1  # type: ignore[misc]


# --- wrap / unwrap ---------------------------------------------------------------------


def test_wrap_then_unwrap_gives_back_an_equal_typed_event() -> None:
    event = OrderCreated(
        order_id="ord_9",
        customer_email="a@example.com",
        category="flowers",
        region="eu",
        quantity=3,
        amount=4500,
        currency="eur",
        payment_method="pm_card_visa",
    )
    envelope = wrap(event, service="orders", context=MessageContext.new("ord_9"))
    assert envelope.dataschemaversion == OrderCreated.version
    back = unwrap(envelope)
    assert isinstance(back, OrderCreated)
    assert back == event


def test_unwrap_survives_a_json_round_trip_of_the_envelope() -> None:
    envelope = wrap(succeeded(), service="payments", context=MessageContext.new("c"))
    wire = json.loads(json.dumps(envelope.model_dump(mode="json")))
    assert unwrap(Envelope.model_validate(wire)) == succeeded()


def test_unwrap_of_an_unknown_type_raises_unknown_event_type() -> None:
    envelope = Envelope(source="/switchboard/x", type="thing-happened", correlationid="c", data={})
    with pytest.raises(UnknownEventType):
        unwrap(envelope)


def test_unwrap_names_a_missing_field() -> None:
    envelope = wrap(succeeded(), service="payments", context=MessageContext.new("c"))
    del envelope.data["amount"]
    with pytest.raises(pydantic.ValidationError, match="amount"):
        unwrap(envelope)


def test_unwrap_refuses_a_wrongly_typed_field() -> None:
    envelope = wrap(succeeded(), service="payments", context=MessageContext.new("c"))
    envelope.data["amount"] = "a lot"
    with pytest.raises(pydantic.ValidationError, match="amount"):
        unwrap(envelope)


def test_unwrap_refuses_unexpected_fields() -> None:
    envelope = wrap(succeeded(), service="payments", context=MessageContext.new("c"))
    envelope.data["surprise"] = True
    with pytest.raises(pydantic.ValidationError, match="surprise"):
        unwrap(envelope)


def test_envelope_time_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    envelope = wrap(succeeded(), service="payments", context=MessageContext.new("c"))
    assert before <= envelope.time <= datetime.now(UTC)
