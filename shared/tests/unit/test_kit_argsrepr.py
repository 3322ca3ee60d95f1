"""`celery_argsrepr` writes the header Celery's `saferepr` would, or leaves it to Celery."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery
from celery.utils.saferepr import saferepr
from switchboard_shared.argsrepr import celery_argsrepr

APP = Celery("t", broker="memory://", set_as_current=False)


@pytest.mark.parametrize(
    "args",
    [
        [{"order_id": "ord_1", "quantity": 3, "price": 12.5, "paid": True, "note": None}],
        [{"quote": "it's", "nested": {"list": [1, "two", {"three": [3]}]}}],
        [[], {}, ""],
    ],
)
def test_json_arguments_are_shown_as_saferepr_shows_them(args: list[Any]) -> None:
    expected = saferepr(args, APP.amqp.argsrepr_maxsize, APP.conf.task_repr_maxlevels)
    assert celery_argsrepr(args, APP) == expected


def test_what_is_not_json_or_too_long_is_left_to_celery() -> None:
    assert celery_argsrepr([object()], APP) is None
    assert celery_argsrepr([{1: "int key"}], APP) is None
    assert celery_argsrepr(["x" * APP.amqp.argsrepr_maxsize], APP) is None
