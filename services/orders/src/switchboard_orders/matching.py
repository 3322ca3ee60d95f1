"""Supplier scoring for order matching: pure functions, no database.

A supplier is a candidate when it serves the order's category and has free capacity for the
whole quantity. Candidates are ranked by

    score = REGION_WEIGHT * region fit     (same region 1, same macro-region 0.5, else 0)
          + LOAD_WEIGHT   * free share     (free / capacity after this order: lower load wins)
          + RATING_WEIGHT * rating / 5

and ties go to the supplier id, so the ranking is deterministic. The caller tries them best
first and reserves capacity atomically; a stale candidate list only costs a retry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

REGION_WEIGHT = 2.0
LOAD_WEIGHT = 1.0
RATING_WEIGHT = 1.0
MAX_RATING = 5.0


@dataclass(frozen=True)
class Need:
    """What an order asks of a supplier."""

    category: str
    region: str
    quantity: int


@dataclass(frozen=True)
class Candidate:
    supplier_id: str
    categories: tuple[str, ...]
    region: str
    capacity: int
    reserved: int
    rating: float

    @property
    def free(self) -> int:
        return self.capacity - self.reserved


def macro_region(region: str) -> str:
    """`eu-west` → `eu`: regions sharing a prefix are neighbours."""
    return region.split("-", 1)[0].lower()


def region_fit(need: Need, candidate: Candidate) -> float:
    if candidate.region.lower() == need.region.lower():
        return 1.0
    if macro_region(candidate.region) == macro_region(need.region):
        return 0.5
    return 0.0


def free_share(need: Need, candidate: Candidate) -> float:
    """Share of the supplier's capacity still free once this order is reserved."""
    if candidate.capacity <= 0:
        return 0.0
    return max(candidate.free - need.quantity, 0) / candidate.capacity


def eligible(need: Need, candidate: Candidate) -> bool:
    return need.category in candidate.categories and candidate.free >= need.quantity


def score(need: Need, candidate: Candidate) -> float:
    rating = min(max(candidate.rating, 0.0), MAX_RATING) / MAX_RATING
    return (
        REGION_WEIGHT * region_fit(need, candidate)
        + LOAD_WEIGHT * free_share(need, candidate)
        + RATING_WEIGHT * rating
    )


def rank(need: Need, candidates: Iterable[Candidate]) -> list[Candidate]:
    """Eligible candidates, best first."""
    fitting = [c for c in candidates if eligible(need, c)]
    return sorted(fitting, key=lambda c: (-score(need, c), c.supplier_id))


def no_match_reason(need: Need, serving: int, largest_free: int | None) -> str:
    """Why nothing fits, from how many suppliers serve the category and their largest free room."""
    if serving == 0:
        return f"no supplier serves category {need.category!r}"
    return (
        f"no supplier of {need.category!r} has free capacity for {need.quantity} "
        f"(largest free capacity: {largest_free or 0})"
    )
