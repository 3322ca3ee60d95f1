"""Supplier scoring on its own: eligibility, region fit, load, rating, determinism."""

from __future__ import annotations

import pytest
from switchboard_orders.matching import (
    Candidate,
    Need,
    eligible,
    no_match_reason,
    rank,
    region_fit,
    score,
)

NEED = Need(category="flowers", region="eu-west", quantity=3)


def supplier(
    supplier_id: str,
    *,
    region: str = "eu-west",
    capacity: int = 10,
    reserved: int = 0,
    rating: float = 4.0,
    categories: tuple[str, ...] = ("flowers",),
) -> Candidate:
    return Candidate(supplier_id, categories, region, capacity, reserved, rating)


def ids(candidates: list[Candidate]) -> list[str]:
    return [c.supplier_id for c in candidates]


def test_a_supplier_of_another_category_is_not_a_candidate() -> None:
    assert not eligible(NEED, supplier("s", categories=("books",)))
    assert rank(NEED, [supplier("s", categories=("books", "toys"))]) == []


def test_a_supplier_without_room_for_the_whole_quantity_is_not_a_candidate() -> None:
    assert not eligible(NEED, supplier("s", capacity=10, reserved=8))
    assert eligible(NEED, supplier("s", capacity=10, reserved=7)), "exactly enough room fits"


def test_same_region_beats_neighbour_region_beats_far_away() -> None:
    ranked = rank(
        NEED,
        [
            supplier("far", region="us-east"),
            supplier("near", region="eu-central"),
            supplier("home"),
        ],
    )
    assert ids(ranked) == ["home", "near", "far"]
    assert region_fit(NEED, supplier("x", region="EU-West")) == 1.0


def test_a_lower_load_wins_between_equal_suppliers() -> None:
    ranked = rank(NEED, [supplier("busy", reserved=6), supplier("idle", reserved=0)])
    assert ids(ranked) == ["idle", "busy"]


def test_a_better_rating_wins_between_equal_suppliers() -> None:
    ranked = rank(NEED, [supplier("ok", rating=3.0), supplier("great", rating=5.0)])
    assert ids(ranked) == ["great", "ok"]


def test_region_fit_outweighs_load_and_rating() -> None:
    local = supplier("local", reserved=7, rating=1.0)
    remote = supplier("remote", region="us-east", capacity=1000, rating=5.0)
    assert ids(rank(NEED, [remote, local])) == ["local", "remote"]


def test_load_is_measured_as_a_share_of_capacity() -> None:
    small_idle = supplier("small", capacity=10, reserved=0)
    big_busy = supplier("big", capacity=100, reserved=90)
    assert score(NEED, small_idle) > score(NEED, big_busy)


def test_ties_are_broken_by_supplier_id() -> None:
    assert ids(rank(NEED, [supplier("b"), supplier("a"), supplier("c")])) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("serving", "largest", "expected"),
    [(0, None, "no supplier serves category 'flowers'"), (2, 1, "largest free capacity: 1")],
)
def test_the_no_match_reason_says_what_was_missing(
    serving: int, largest: int | None, expected: str
) -> None:
    assert expected in no_match_reason(NEED, serving, largest)
