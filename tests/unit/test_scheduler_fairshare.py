"""Fair share: quota up to demand first, then the rest water-filled by weight."""

from __future__ import annotations

import pytest

from mlfabric.scheduler import ShareRequest, fair_shares, water_fill


def R(quota: float, demand: float, weight: float | None = None,
      limit: float | None = None) -> ShareRequest:
    return ShareRequest(quota, quota if weight is None else weight, demand, limit)


CASES = {
    "idle capacity goes to the only demand": (
        16, {"a": R(4, 16), "b": R(4, 0)}, {"a": 16, "b": 0}),
    "reference: quota first, then weight 2:2": (
        16, {"a": R(4, 4), "b": R(2, 4), "c": R(2, 4), "d": R(8, 4)},
        {"a": 4, "b": 4, "c": 4, "d": 4}),
    "reference after d asks for 8": (
        16, {"a": R(4, 4), "b": R(2, 4), "c": R(2, 4), "d": R(8, 8)},
        {"a": 4, "b": 2, "c": 2, "d": 8}),
    "reference after d leaves: 4:2:2 of what is left": (
        16, {"a": R(4, 8), "b": R(2, 6), "c": R(2, 6), "d": R(8, 0)},
        {"a": 8, "b": 4, "c": 4, "d": 0}),
    "kueue: equal weights split the rest equally": (
        9, {"a": R(3, 10), "b": R(3, 5), "c": R(3, 0)}, {"a": 4.5, "b": 4.5, "c": 0}),
    "kueue: small demand is capped and the rest re-divided": (
        9, {"a": R(3, 10), "b": R(3, 5), "c": R(3, 1)}, {"a": 4, "b": 4, "c": 1}),
    "weights decide the over-quota split, not quotas": (
        10, {"a": R(1, 10, weight=3), "b": R(1, 10, weight=1)}, {"a": 7, "b": 3}),
    "limit caps a share": (
        10, {"a": R(1, 10, limit=2), "b": R(1, 10)}, {"a": 2, "b": 8}),
    "oversubscribed quotas scale in proportion to quota": (
        8, {"a": R(8, 8), "b": R(8, 8)}, {"a": 4, "b": 4}),
    "oversubscribed quotas, small demand first": (
        8, {"a": R(8, 2), "b": R(8, 8)}, {"a": 2, "b": 6}),
    "zero weight gets only what weighted projects leave": (
        10, {"a": R(0, 10, weight=0), "b": R(2, 4)}, {"a": 6, "b": 4}),
    "no capacity": (0, {"a": R(4, 4)}, {"a": 0}),
}


@pytest.mark.parametrize("capacity, requests, expected", CASES.values(), ids=CASES.keys())
def test_fair_shares(capacity: float, requests: dict[str, ShareRequest],
                     expected: dict[str, float]) -> None:
    shares = fair_shares(capacity, requests)
    assert shares == pytest.approx(expected)
    assert sum(shares.values()) <= capacity + 1e-9


def test_water_fill_respects_caps_and_weights() -> None:
    given = water_fill(10, {"a": 1, "b": 100, "c": 100}, {"a": 1, "b": 1, "c": 2})
    assert given == pytest.approx({"a": 1, "b": 3, "c": 6})
