"""The dead-letter store and the poison-message counter on real databases; replay on real Redis."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from celery import Celery
from kit_test_helpers import kit_database
from sqlalchemy.orm import Session, sessionmaker
from switchboard_shared.deadletters import CapturedMessage, DeadLetterStore, DeliveryCounter
from switchboard_shared.failures import FailureClass

pytestmark = pytest.mark.integration


@pytest.fixture
def db(database_url: str) -> Iterator[sessionmaker[Session]]:
    with kit_database(database_url) as factory:
        yield factory


def captured(task_id: str = "task-1", queue: str = "orders.critical") -> CapturedMessage:
    return CapturedMessage(
        task_id=task_id,
        task_name="orders.create",
        queue=queue,
        body={
            "task": "orders.create",
            "id": task_id,
            "args": [{"order_id": "ord_1", "currency": "eur"}],
            "kwargs": {},
            "headers": {"x-tenant": "acme"},
            "retries": 3,
            "delivery_info": {"routing_key": queue},
        },
    )


def test_dead_letter_keeps_the_whole_message_and_the_reason(db: sessionmaker[Session]) -> None:
    store = DeadLetterStore(db, "orders")
    letter_id = store.add(
        captured(),
        reason="validation failure: ValidationError: items: too short",
        classification=FailureClass.VALIDATION,
        exception_type="ValidationError",
        traceback="Traceback ...",
        deliveries=2,
    )

    letter = store.get(letter_id)
    assert letter is not None
    assert letter.service == "orders"
    assert (letter.task_name, letter.task_id, letter.queue) == (
        "orders.create",
        "task-1",
        "orders.critical",
    )
    assert letter.message == captured().body
    assert letter.reason.startswith("validation failure")
    assert letter.classification == "validation"
    assert letter.exception_type == "ValidationError"
    assert letter.traceback == "Traceback ..."
    assert letter.deliveries == 2
    assert letter.replayed_at is None


def test_dead_letters_are_listed_newest_first_and_paged(db: sessionmaker[Session]) -> None:
    store = DeadLetterStore(db, "orders")
    ids = []
    for n in range(3):
        ids.append(
            store.add(captured(f"task-{n}"), reason=f"r{n}", classification=FailureClass.UNKNOWN)
        )
        time.sleep(0.01)
    assert [letter.id for letter in store.list()] == ids[::-1]
    assert [letter.id for letter in store.list(limit=1, offset=1)] == [ids[1]]
    assert [letter.id for letter in store.for_task("task-2")] == [ids[2]]


def test_deleting_a_dead_letter(db: sessionmaker[Session]) -> None:
    store = DeadLetterStore(db, "orders")
    letter_id = store.add(captured(), reason="r", classification=FailureClass.NETWORK)
    assert store.delete(letter_id) is True
    assert store.get(letter_id) is None
    assert store.delete(letter_id) is False
    assert store.list() == []


def test_a_very_long_reason_is_kept_bounded(db: sessionmaker[Session]) -> None:
    store = DeadLetterStore(db, "orders")
    letter = store.get(
        store.add(captured(), reason="x" * 10_000, classification=FailureClass.UNKNOWN)
    )
    assert letter is not None and len(letter.reason) == 4000


def test_replay_puts_the_original_message_back_on_its_queue_as_a_new_attempt(
    db: sessionmaker[Session], redis_url: str
) -> None:
    # A queue no worker listens on: real workers of other test runs may share this Redis db.
    queue = f"kit-replay-{uuid.uuid4().hex[:8]}.critical"
    store = DeadLetterStore(db, "orders")
    letter_id = store.add(
        captured(queue=queue), reason="network failure", classification=FailureClass.NETWORK
    )
    app = Celery("kit-replay-test", broker=redis_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
    client = redis.Redis.from_url(redis_url)
    try:
        new_id = store.replay(letter_id, app)

        assert new_id != "task-1"
        [raw] = client.lrange(queue, 0, -1)
        message = json.loads(raw)
        headers = message["headers"]
        assert headers["id"] == new_id
        assert headers["task"] == "orders.create"
        assert headers["replay_of"] == "task-1"
        assert headers["x-tenant"] == "acme"
        assert headers["retries"] == 0, "a replay is a fresh attempt"
        assert message["content-type"] == "application/json"
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        assert args == [{"order_id": "ord_1", "currency": "eur"}]
        assert kwargs == {}
    finally:
        client.close()
        app.close()

    letter = store.get(letter_id)
    assert letter is not None and letter.replayed_at is not None


def test_replay_of_an_unknown_letter_is_a_lookup_error(db: sessionmaker[Session]) -> None:
    app = Celery("kit-replay-test", broker="redis://127.0.0.1:1/0", set_as_current=False)
    with pytest.raises(LookupError, match="no dead letter nope"):
        DeadLetterStore(db, "orders").replay("nope", app)


def test_delivery_counter_counts_each_redelivery(db: sessionmaker[Session]) -> None:
    counter = DeliveryCounter(db)
    assert counter.count("t1") == 0
    # the task reports deliveries as lost deliveries + 1: 2, 3, 4 …
    assert [counter.add("t1") + 1 for _ in range(3)] == [2, 3, 4]
    assert counter.count("t1") == 3
    assert counter.count("t2") == 0
    assert counter.add("t2") == 1
