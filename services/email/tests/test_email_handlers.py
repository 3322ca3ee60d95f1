"""Email's handlers with fakes: templates, suppression, rate limit, bulk slices, notifications."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from email_harness import CountingLimiter, Sender, body, email_db, wired
from jinja2 import DictLoader
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_email import bulk, campaigns
from switchboard_email.adapters.fake import FakeMailer
from switchboard_email.config import EmailSettings
from switchboard_email.handlers import registry
from switchboard_email.models import Suppression
from switchboard_email.rendering import Templates
from switchboard_shared.contracts.email import SendBulkEmail
from switchboard_shared.contracts.orders import OrderMatched, OrderPaymentReminder
from switchboard_shared.failures import ClassifiedError, FailureClass, ValidationFailure, classify
from switchboard_shared.ratelimit import RateLimited
from switchboard_shared.records import OutboxMessage
from switchboard_shared.testing import InProcessBus, InProcessService

SETTINGS = EmailSettings(sender="Shop <shop@example.com>", bulk_slice_size=4, bulk_lanes=1)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    with email_db(tmp_path) as factory:
        yield factory


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer(bounce={"gone@example.com"}, defer={"busy@example.com"})


def events(db: sessionmaker[Session]) -> list[tuple[str, dict[str, Any]]]:
    with db() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)).all()
        return [(row.event_type, row.envelope["data"]) for row in rows]


# --- templates ---------------------------------------------------------------------------


def test_a_named_template_renders_its_subject_text_and_escaped_html() -> None:
    mail = (
        Templates()
        .named("order-confirmation")
        .render({"order_id": "<ord_1>", "amount": "37.50 USD"})
    )
    assert mail.subject == "Order <ord_1> confirmed"
    assert mail.text is not None and "Your order <ord_1> (37.50 USD)" in mail.text
    assert mail.html is not None and "&lt;ord_1&gt;" in mail.html and "<ord_1>" not in mail.html


def test_a_missing_variable_is_a_validation_failure_naming_it() -> None:
    with pytest.raises(ValidationFailure, match="'amount' is undefined") as info:
        Templates().named("order-confirmation").render({"order_id": "ord_1"})
    assert classify(info.value) is FailureClass.VALIDATION


def test_an_unknown_template_is_a_validation_failure() -> None:
    with pytest.raises(ValidationFailure, match="unknown email template 'nope'"):
        Templates().named("nope")


def test_a_loader_can_supply_other_templates() -> None:
    loader = DictLoader({"hi/subject.txt": "Hi {{ n }}", "hi/body.txt": "Hello {{ n }} & co"})
    mail = Templates(loader).named("hi").render({"n": "Ada"})
    assert (mail.subject, mail.text, mail.html) == ("Hi Ada", "Hello Ada & co", None)


# --- email.send --------------------------------------------------------------------------


def test_send_with_a_template_delivers_a_text_and_html_pair(
    db: sessionmaker[Session], mailer: FakeMailer
) -> None:
    with wired(SETTINGS, mailer):
        result = Sender(db).send(
            {
                "to": "ada@example.com",
                "template": "payment-reminder",
                "context": {"order_id": "ord_9", "amount": "1.00 EUR"},
            }
        )
    assert result["status"] == "sent"
    [message] = mailer.sent
    assert message["Subject"] == "Reminder: order ord_9 is waiting for payment"
    assert "ord_9" in body(message)
    assert "<strong>ord_9</strong>" in body(message, "html")
    assert [t for t, _ in events(db)] == ["email-sent"]


def test_a_missing_template_variable_sends_nothing_and_records_nothing(
    db: sessionmaker[Session], mailer: FakeMailer
) -> None:
    with wired(SETTINGS, mailer), pytest.raises(ValidationFailure, match="'amount' is undefined"):
        Sender(db).send(
            {"to": "ada@example.com", "template": "payment-reminder", "context": {"order_id": "1"}}
        )
    assert mailer.sent == [] and events(db) == []


def test_a_bounce_suppresses_the_address_and_later_sends_are_refused(
    db: sessionmaker[Session], mailer: FakeMailer
) -> None:
    payload = {"to": "gone@example.com", "subject": "Hi", "text": "x"}
    with wired(SETTINGS, mailer):
        first = Sender(db).send(payload, message_id="m1")
        second = Sender(db).send(payload, message_id="m2")
    assert first["status"] == "bounced" and "550" in first["reason"]
    assert second["status"] == "suppressed"
    with db() as session:
        assert session.get(Suppression, "gone@example.com") is not None
    assert [t for t, _ in events(db)] == ["email-bounced", "email-failed"]


def test_no_token_raises_rate_limited_before_anything_is_sent(
    db: sessionmaker[Session], mailer: FakeMailer
) -> None:
    limiter = CountingLimiter(tokens=0, wait=2.5)
    with wired(SETTINGS, mailer, limiter), pytest.raises(RateLimited) as info:
        Sender(db).send({"to": "ada@example.com", "subject": "Hi", "text": "x"})
    assert info.value.retry_after == 2.5 and limiter.reserving == [True]
    assert mailer.sent == [] and events(db) == []


def test_a_transient_failure_is_raised_for_the_kit_to_retry(
    db: sessionmaker[Session], mailer: FakeMailer
) -> None:
    with wired(SETTINGS, mailer), pytest.raises(ClassifiedError) as info:
        Sender(db).send({"to": "busy@example.com", "subject": "Hi", "text": "x"})
    assert classify(info.value) is FailureClass.PROVIDER_5XX
    assert events(db) == []


# --- notifications from events --------------------------------------------------------------


def test_order_matched_and_payment_reminder_send_their_templates(
    db: sessionmaker[Session], mailer: FakeMailer
) -> None:
    bus = InProcessBus(InProcessService("email", registry, db))
    with wired(SETTINGS, mailer):
        bus.publish(
            OrderMatched(
                order_id="ord_7",
                supplier_id="s",
                customer_email="a@example.com",
                amount=3750,
                currency="usd",
            ),
            producer="orders",
        )
        bus.publish(
            OrderPaymentReminder(
                order_id="ord_8", customer_email="b@example.com", amount=100, currency="eur"
            ),
            producer="orders",
        )
    assert [m["Subject"] for m in mailer.sent] == [
        "Order ord_7 confirmed",
        "Reminder: order ord_8 is waiting for payment",
    ]
    assert "37.50 USD" in body(mailer.sent[0])


# --- bulk --------------------------------------------------------------------------------


def run_campaign(
    db: sessionmaker[Session], command: SendBulkEmail, campaign_id: str = "c1"
) -> list[bulk.Slice]:
    """Lane by lane, slice by slice, until the campaign finishes or must wait."""
    sender = Sender(db)
    with sender.uow() as uow:
        lanes = registry.call(campaigns.open_campaign, command, uow, campaign_id=campaign_id)
    slices = []
    for lane in range(max(lanes, 1)):
        for _ in range(50):
            step = next_slice(db, campaign_id, lane)
            slices.append(step)
            if step.lane_done or step.wait:
                break
    return slices


def next_slice(db: sessionmaker[Session], campaign_id: str = "c1", lane: int = 0) -> bulk.Slice:
    with Sender(db).uow() as uow:
        return registry.call(bulk.send_slice, campaign_id, uow, lane=lane)  # type: ignore[no-any-return]


def result(db: sessionmaker[Session], campaign_id: str = "c1") -> dict[str, Any]:
    with db() as session:
        return campaigns.campaign_result(session, campaign_id)


def newsletter(*addresses: str) -> SendBulkEmail:
    return SendBulkEmail(
        template="newsletter",
        common_context={"title": "News", "message": "All good"},
        recipients=[{"to": a, "context": {"name": a.split("@")[0]}} for a in addresses],
    )


def test_bulk_one_bad_recipient_fails_only_itself(
    db: sessionmaker[Session], mailer: FakeMailer
) -> None:
    command = SendBulkEmail(
        template="newsletter",
        common_context={"title": "News", "message": "All good"},
        recipients=[
            {"to": "a@example.com", "context": {"name": "A"}},
            {"to": "not-an-address", "context": {"name": "X"}},
            {"to": "gone@example.com", "context": {"name": "G"}},
            {"to": "b@example.com", "context": {}},  # no name: its own render fails
            {"to": "c@example.com", "context": {"name": "C"}},
        ],
    )
    with wired(SETTINGS.model_copy(update={"bulk_deferred_passes": 0}), mailer):
        slices = run_campaign(db, command)
    assert slices[-1].finished and mailer.sessions == 2  # one connection per slice (4, then 1)
    outcomes = [(r["to"], r["outcome"]) for r in result(db)["recipients"]]
    assert outcomes == [
        ("a@example.com", "sent"),
        ("not-an-address", "invalid"),
        ("gone@example.com", "bounced"),
        ("b@example.com", "failed"),
        ("c@example.com", "sent"),
    ]
    assert "'name' is undefined" in result(db)["recipients"][3]["detail"]
    assert mailer.to() == ["a@example.com", "c@example.com"]
    assert mailer.sent[1]["Subject"] == "News, C"
    types = [t for t, _ in events(db)]
    assert types.count("email-sent") == 2 and types.count("email-failed") == 2
    assert types.count("email-bounced") == 1 and types[-1] == "email-bulk-completed"


def test_bulk_lanes_split_the_recipients_and_the_last_lane_finishes(
    db: sessionmaker[Session], mailer: FakeMailer
) -> None:
    with wired(SETTINGS.model_copy(update={"bulk_lanes": 2}), mailer):
        sender = Sender(db)
        with sender.uow() as uow:
            lanes = registry.call(
                campaigns.open_campaign,
                newsletter(*(f"u{i}@example.com" for i in range(6))),
                uow,
                campaign_id="c1",
            )
        assert lanes == 2
        assert next_slice(db, lane=1) == bulk.Slice(lane_done=False, finished=False)
        assert next_slice(db, lane=1) == bulk.Slice(lane_done=True, finished=False)
        assert next_slice(db, lane=0) == bulk.Slice(lane_done=False, finished=False)
        assert next_slice(db, lane=0) == bulk.Slice(lane_done=True, finished=True)
    assert mailer.to() == [f"u{i}@example.com" for i in (1, 3, 5, 0, 2, 4)]
    assert result(db)["counts"] == {"sent": 6}
    assert [t for t, _ in events(db)].count("email-bulk-completed") == 1


def test_bulk_deferred_recipients_get_another_pass_then_fail(
    db: sessionmaker[Session], mailer: FakeMailer
) -> None:
    with wired(SETTINGS.model_copy(update={"bulk_deferred_passes": 1}), mailer):
        slices = run_campaign(db, newsletter("a@example.com", "busy@example.com", "x@example.com"))
        assert slices[-1].wait == SETTINGS.bulk_deferred_wait_seconds  # a pass later
        assert next_slice(db).lane_done is False  # busy@ deferred a second time: now failed
        assert next_slice(db).finished
    assert mailer.to() == ["a@example.com", "x@example.com"]
    [busy] = [r for r in result(db)["recipients"] if r["to"] == "busy@example.com"]
    assert busy["outcome"] == "failed" and "deferred 2 times" in busy["detail"]


def test_bulk_deferred_recipients_are_sent_on_a_later_pass(
    db: sessionmaker[Session], mailer: FakeMailer
) -> None:
    with wired(SETTINGS, mailer):
        run_campaign(db, newsletter("busy@example.com"))
        mailer.defer.clear()
        assert not next_slice(db).lane_done
        assert next_slice(db).finished
    assert result(db)["counts"] == {"sent": 1}


def test_bulk_stops_at_the_rate_limit_and_resumes_where_it_stopped(
    db: sessionmaker[Session], mailer: FakeMailer
) -> None:
    limiter = CountingLimiter(tokens=3, wait=1.5)
    with wired(SETTINGS, mailer, limiter):
        slices = run_campaign(db, newsletter(*(f"u{i}@example.com" for i in range(6))))
        assert slices[-1].wait == 1.5 and len(mailer.sent) == 3
        limiter.tokens = 10
        steps = [next_slice(db) for _ in range(3)]
    assert steps[-1].finished
    assert mailer.to() == [f"u{i}@example.com" for i in range(6)]
    assert not any(limiter.reserving)  # a slice re-queues whole: it never holds a slot


def test_bulk_skips_suppressed_addresses(db: sessionmaker[Session], mailer: FakeMailer) -> None:
    with db() as session, session.begin():
        session.add(Suppression(address="old@example.com", reason="550 earlier"))
    with wired(SETTINGS, mailer):
        run_campaign(db, newsletter("OLD@example.com", "new@example.com"))
    assert mailer.to() == ["new@example.com"]
    assert result(db)["counts"] == {"suppressed": 1, "sent": 1}


def test_bulk_opened_twice_stores_its_recipients_once(
    db: sessionmaker[Session], mailer: FakeMailer
) -> None:
    command = newsletter("a@example.com")
    with wired(SETTINGS, mailer):
        run_campaign(db, command)
        with Sender(db).uow() as uow:
            assert registry.call(campaigns.open_campaign, command, uow, campaign_id="c1") == 0
    assert mailer.to() == ["a@example.com"] and result(db)["total"] == 1
