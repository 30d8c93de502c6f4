"""The eviction policy: table-driven cases, then Hypothesis against a brute-force
reference model written from the rules alone."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlfabric.datasets.cache.evict import Candidate, Limits, choose_evictions, usage
from mlfabric.errors import InvalidInput

SIZES = {f"o{i}": s for i, s in enumerate((100, 250, 50, 400, 10, 300, 75, 500, 5, 120))}


def entry(key: str, last_used: float, objects: str = "", leased: bool = False) -> Candidate:
    """Builder: ``objects`` is a space-separated list of object names from SIZES."""
    return Candidate(key, last_used, leased, {o: SIZES[o] for o in objects.split()})


@dataclass
class Case:
    entries: list[Candidate]
    limits: Limits
    now: float
    expect: list[str]
    reserve: int = 0
    pinned: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


CASES = {
    "under the high watermark, nothing expired: nothing goes": Case(
        [entry("a", 10, "o0"), entry("b", 20, "o1")], Limits(1000, 0.9, 0.8, 100), 50, []),
    "expired entry goes even when there is room": Case(
        [entry("a", 10, "o0"), entry("b", 200, "o1")], Limits(1000, 0.9, 0.8, 100), 250,
        ["a"], reasons=("ttl",)),
    "used exactly at the ttl is kept": Case(
        [entry("a", 150, "o0")], Limits(1000, 0.9, 0.8, 100), 250, []),
    "over high: least recently used first, down to low": Case(
        # 100 + 250 + 400 + 500 = 1250 > 900; evict a (->1150), b (->900), c (->500 <= 800)
        [entry("c", 30, "o3"), entry("a", 10, "o0"), entry("d", 40, "o7"),
         entry("b", 20, "o1")], Limits(1000, 0.9, 0.8, 1000), 50, ["a", "b", "c"],
        reasons=("lru", "lru", "lru")),
    "leased entries are skipped, the next one goes": Case(
        [entry("a", 10, "o7", leased=True), entry("b", 20, "o3"), entry("c", 30, "o5")],
        Limits(1000, 0.9, 0.8, 1000), 50, ["b"]),
    "all leased: nothing goes, however full": Case(
        [entry("a", 10, "o7", leased=True), entry("b", 20, "o3 o5", leased=True)],
        Limits(500, 0.9, 0.8, 1), 50, []),
    "shared objects free nothing until the last holder goes": Case(
        # a and b share o7 (500); usage 500+250+400 = 1150 > 900; a frees o1 only (250 ->
        # 900 > 800), b frees o3 only (-> 500): o7 stays with c.
        [entry("a", 10, "o7 o1"), entry("b", 20, "o7 o3"), entry("c", 30, "o7")],
        Limits(1000, 0.9, 0.8, 1000), 50, ["a", "b"]),
    "room for an incoming entry is reserved": Case(
        [entry("a", 10, "o3"), entry("b", 20, "o1")], Limits(1000, 0.9, 0.8, 1000), 50,
        ["a"], reserve=400),
    "a pinned entry (being extended) is never chosen": Case(
        [entry("a", 10, "o3"), entry("b", 20, "o7")], Limits(1000, 0.9, 0.8, 1000), 50,
        ["b"], reserve=300, pinned=("a",)),
    "a sweep started under the high watermark does not chase the low one": Case(
        [entry("a", 10, "o3"), entry("b", 20, "o1"), entry("c", 30, "o0")],
        Limits(1000, 0.9, 0.5, 1000), 50, []),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_policy_cases(case: Case) -> None:
    d = choose_evictions(case.entries, case.limits, case.now, reserve=case.reserve,
                         pinned=case.pinned)
    assert d.keys == case.expect
    if case.reasons:
        assert tuple(e.reason for e in d.evict) == case.reasons
    assert d.usage_before - d.usage_after == sum(e.freed for e in d.evict)


def test_blocked_when_leases_hold_the_rest() -> None:
    d = choose_evictions([entry("a", 1, "o7", leased=True), entry("b", 2, "o3")],
                         Limits(500, 0.9, 0.8, 1000), 10)
    assert d.keys == ["b"] and d.blocked and d.usage_after == 500


@pytest.mark.parametrize("limits", [Limits(0), Limits(10, 0.5, 0.6), Limits(10, 1.1, 0.5),
                                    Limits(10, 0.9, 0.0), Limits(10, ttl=-1)])
def test_invalid_limits(limits: Limits) -> None:
    with pytest.raises(InvalidInput):
        limits.validate()


# -- property: the policy agrees with a reference model --------------------------------
def reference(entries: list[Candidate], limits: Limits, now: float, reserve: int,
              pinned: set[str]) -> list[str]:
    """Brute force from the rules: repeatedly take the least recently used evictable entry
    and evict it while it is expired or (the sweep having started above the high
    watermark) usage plus reserve is above the low watermark; usage re-counted from
    scratch each time."""
    remaining = {e.key: e for e in entries}

    def used() -> int:
        objects: dict[str, int] = {}
        for e in remaining.values():
            objects.update(e.objects)
        return sum(objects.values())

    over = used() + reserve > limits.high * limits.budget
    order = []
    while True:
        evictable = [e for e in remaining.values() if not e.leased and e.key not in pinned]
        if not evictable:
            return order
        oldest = min(evictable, key=lambda e: (e.last_used, e.key))
        expired = now - oldest.last_used > limits.ttl
        if not (expired or (over and used() + reserve > limits.low * limits.budget)):
            return order
        del remaining[oldest.key]
        order.append(oldest.key)


objects_st = st.lists(st.sampled_from(sorted(SIZES)), min_size=0, max_size=4, unique=True)
entries_st = st.lists(
    st.tuples(st.integers(0, 100), st.booleans(), objects_st), min_size=0, max_size=8
).map(lambda rows: [Candidate(f"e{i}", t, leased, {o: SIZES[o] for o in objs})
                    for i, (t, leased, objs) in enumerate(rows)])
limits_st = st.tuples(st.integers(1, 2500), st.floats(0.05, 1.0), st.floats(0.05, 1.0),
                      st.integers(0, 120)).map(
    lambda t: Limits(t[0], max(t[1], t[2]), min(t[1], t[2]), float(t[3])))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(entries=entries_st, limits=limits_st, now=st.integers(0, 250),
       reserve=st.integers(0, 600), n_pinned=st.integers(0, 2))
def test_policy_matches_reference_model(entries: list[Candidate], limits: Limits, now: int,
                                        reserve: int, n_pinned: int) -> None:
    pinned = {e.key for e in entries[:n_pinned]}
    d = choose_evictions(entries, limits, now, reserve=reserve, pinned=pinned)
    assert d.keys == reference(entries, limits, now, reserve, pinned)
    by_key = {e.key: e for e in entries}
    remaining = [e for e in entries if e.key not in set(d.keys)]
    # leased and pinned entries survive
    assert not any(by_key[k].leased or k in pinned for k in d.keys)
    # an unleased entry unused for more than the ttl is evicted; one used within it is
    # kept unless the sweep had to go below the high watermark
    for e in entries:
        if not e.leased and e.key not in pinned and now - e.last_used > limits.ttl:
            assert e.key in d.keys
        if e.key in d.keys and now - e.last_used <= limits.ttl:
            assert d.triggered
    # after the sweep: at or below the low watermark, unless only leased/pinned entries
    # are left to hold the rest
    assert d.usage_after == usage(remaining)
    if d.triggered and d.usage_after + reserve > limits.low * limits.budget:
        assert d.blocked
        assert all(e.leased or e.key in pinned for e in remaining)
    # each eviction frees exactly the objects no later-remaining entry needs
    assert d.usage_before - d.usage_after == sum(e.freed for e in d.evict)
    kept_objects = {o for e in remaining for o in e.objects}
    freed = {o for k in d.keys for o in by_key[k].objects} - kept_objects
    assert sum(SIZES[o] for o in freed) == d.usage_before - d.usage_after
