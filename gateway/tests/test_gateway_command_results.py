"""Commands the gateway hands over do not subscribe to their results; a waited-for one gets
its answer all the same (real Redis as broker and result backend)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from celery import Celery
from switchboard_gateway.sender import ResultsWhenAskedRedisBackend, make_celery_client
from switchboard_shared.testsupport import redis_database

pytestmark = pytest.mark.integration


@pytest.fixture
def client() -> Iterator[Celery]:
    with redis_database() as url:
        app = make_celery_client(url, url)
        yield app
        app.close()


def test_sending_a_command_subscribes_to_nothing(client: Celery) -> None:
    assert isinstance(client.backend, ResultsWhenAskedRedisBackend)
    for _ in range(3):
        client.send_task(
            "orders.create", args=[{}], queue="orders.normal", task_id=str(uuid.uuid4())
        )

    assert not client.backend.result_consumer.subscribed_to


def test_a_result_stored_before_the_wait_is_read(client: Celery) -> None:
    task_id = str(uuid.uuid4())
    client.send_task("orders.quote", args=[{}], queue="orders.normal", task_id=task_id)
    client.backend.store_result(task_id, {"price": 42}, "SUCCESS")  # the worker answered first

    assert client.AsyncResult(task_id).get(timeout=5) == {"price": 42}


def test_a_result_stored_during_the_wait_arrives(client: Celery) -> None:
    task_id = str(uuid.uuid4())
    client.send_task("orders.quote", args=[{}], queue="orders.normal", task_id=task_id)

    def answer() -> None:
        time.sleep(0.3)
        client.backend.store_result(task_id, {"price": 7}, "SUCCESS")

    threading.Thread(target=answer).start()
    started = time.monotonic()
    assert client.AsyncResult(task_id).get(timeout=10) == {"price": 7}
    assert time.monotonic() - started < 5, "published to the waiter, not found by a late poll"
