"""Cache pools against a reference LRU model, property-tested with Hypothesis and an
injected clock: random adds, leases, releases and sweeps on a real pool (files, hard
links, catalog) must match the model's entries, eviction order and counters; every
cached entry stays whole (no shared object is deleted under it); after a sweep usage is
at or below the low watermark unless leases hold it up."""

from __future__ import annotations

import hashlib
import itertools
import random
from collections import OrderedDict, defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlfabric import caches, datasets, remotes, volumes
from mlfabric.errors import Busy, InvalidInput, NotFound
from tests.helpers import tree_digest

SIZES = [1000, 2000, 3000, 4000, 5000, 6000, 1500, 2500]
VERSIONS = {  # dataset version -> the objects (by index) its files hold
    "a:v1": [0, 1, 2],
    "a:v2": [1, 2, 3],
    "b:v1": [4, 5],
    "c:v1": [0, 5, 6, 7],
}
REFS = sorted(VERSIONS)
HOLDERS = ["job/1", "ws/2"]
_pools = itertools.count()


def blob(i: int) -> bytes:
    return (f"object {i} ".encode() * SIZES[i])[:SIZES[i]]


def oid(i: int) -> str:
    return "sha256:" + hashlib.sha256(blob(i)).hexdigest()


OBJECTS = {ref: {oid(i): SIZES[i] for i in idx} for ref, idx in VERSIONS.items()}


@pytest.fixture(scope="module")
def lake_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A home whose local lake holds the versions of VERSIONS (objects shared)."""
    root = tmp_path_factory.mktemp("cache-props")
    home = str(root / "home")
    remotes.add("lake", str(root / "lake"), home=home)
    for name in ("a", "b", "c"):
        volumes.create(name, home=home)
    for ref in REFS:  # a:v1, a:v2, b:v1, c:v1: each push follows its volume's content
        name = ref.split(":")[0]
        vol = Path(volumes.path(name, home=home))
        for f in vol.iterdir():
            f.unlink()
        for i in VERSIONS[ref]:
            (vol / f"x{i}.bin").write_bytes(blob(i))
        assert datasets.push(name, remote="lake", name=name, home=home).ref == ref
    return home, root


class Model:
    """Reference LRU: an OrderedDict in recency order (front = least recently used)."""

    def __init__(self, budget: int, ttl: int, high: float, low: float) -> None:
        self.budget, self.ttl, self.high, self.low = budget, ttl, high, low
        self.cached: OrderedDict[str, float] = OrderedDict()
        self.leases: dict[str, set[str]] = defaultdict(set)
        self.hits = self.misses = self.evictions = 0

    def usage(self) -> int:
        held: dict[str, int] = {}
        for ref in self.cached:
            held.update(OBJECTS[ref])
        return sum(held.values())

    def sweep(self, now: float, reserve: int = 0) -> list[str]:
        over = self.usage() + reserve > self.high * self.budget
        gone = []
        for ref in list(self.cached):
            if self.leases[ref]:
                continue
            expired = now - self.cached[ref] > self.ttl
            if not (expired or (over and self.usage() + reserve > self.low * self.budget)):
                break
            del self.cached[ref]
            gone.append(ref)
        self.evictions += len(gone)
        return gone

    def use(self, ref: str, now: float, holder: str | None = None) -> str:
        if ref in self.cached:
            self.hits += 1
            self.cached[ref] = now
            self.cached.move_to_end(ref)
        else:
            if sum(OBJECTS[ref].values()) > self.budget:
                return "too big"
            held = {o for r in self.cached for o in OBJECTS[r]}
            incoming = sum(s for o, s in OBJECTS[ref].items() if o not in held)
            self.sweep(now, reserve=incoming)
            if self.usage() + incoming > self.budget:
                return "full"
            self.misses += 1
            self.cached[ref] = now
        if holder is not None:
            self.leases[ref].add(holder)
        return "ok"

    def release(self, ref: str, holder: str, now: float) -> bool:
        if ref not in self.cached or holder not in self.leases[ref]:
            return False
        self.leases[ref].discard(holder)
        self.cached[ref] = now
        self.cached.move_to_end(ref)
        return True


STEPS = [1, 500, 5_000, 15_000, 30_000, 60_000]


def workload(seed: int, n: int = 14) -> list[tuple[str, str | None, str | int | None, int]]:
    """A random sequence of operations: (kind, ref, holder or new budget, seconds later).
    Drawn from a seed (as the scheduler's property tests do) so that every example is a
    long, varied workload rather than a minimal one."""
    rng = random.Random(seed)
    held: list[tuple[str, str]] = []
    ops: list[tuple[str, str | None, str | int | None, int]] = []
    for _ in range(n):
        step = rng.choice(STEPS)
        roll = rng.random()
        if roll < 0.4:
            ops.append(("add", rng.choice(REFS), None, step))
        elif roll < 0.52:
            ref, holder = rng.choice(REFS), rng.choice(HOLDERS)
            held.append((ref, holder))
            ops.append(("lease", ref, holder, step))
        elif roll < 0.64:
            ref, holder = (held.pop(rng.randrange(len(held))) if held and rng.random() < 0.8
                           else (rng.choice(REFS), rng.choice(HOLDERS)))
            ops.append(("release", ref, holder, step))
        elif roll < 0.9:
            ops.append(("sweep", None, None, step))
        else:  # a smaller or larger budget: the next sweep honours it
            ops.append(("resize", None, rng.choice([6_000, 9_000, 14_000, 20_000]), step))
    return ops


# Budgets around the versions' sizes (6,000 to 11,000; 25,000 all together) so that
# pools fill up, plus some too small for the largest version.
budget_st = st.sampled_from([10_000, 12_000, 13_000, 15_000, 17_000, 20_000, 26_000])
ttl_st = st.sampled_from([20_000, 45_000, 90_000])


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), budget=budget_st, ttl=ttl_st,
       marks=st.tuples(st.floats(0.3, 1.0), st.floats(0.3, 1.0)))
def test_pool_matches_reference_lru(lake_home: tuple[str, Path], seed: int, budget: int,
                                    ttl: int, marks: tuple[float, float]) -> None:
    home, root = lake_home
    ops = workload(seed)
    high, low = max(marks), min(marks)
    name = f"p{next(_pools)}"
    path = root / name
    caches.config(name, path=str(path), size=budget, ttl=ttl, high=high, low=low, home=home)
    model = Model(budget, ttl, high, low)
    now = [1_000_000.0]

    def clock() -> float:
        return now[0]

    for kind, ref, holder, step in ops:
        now[0] += step
        if kind == "resize":  # a smaller budget: the next sweep goes down to it
            assert isinstance(holder, int)
            caches.config(name, size=holder, home=home)
            model.budget = budget = holder
        elif kind in ("add", "lease"):
            assert ref is not None
            assert holder is None or isinstance(holder, str)
            expect = model.use(ref, now[0], holder)
            try:
                if holder is None:
                    caches.add(ref, pool=name, home=home, clock=clock)
                else:
                    caches.acquire_lease(ref, holder, pool=name, home=home, clock=clock)
                got = "ok"
            except InvalidInput:
                got = "too big"
            except Busy:
                got = "full"
            assert got == expect, (kind, ref)
        elif kind == "release":
            assert ref is not None and isinstance(holder, str)
            expect_ok = model.release(ref, holder, now[0])
            try:
                caches.release_lease(ref, holder, pool=name, home=home, clock=clock)
                got_ok = True
            except NotFound:
                got_ok = False
            assert got_ok == expect_ok
        else:
            expect_gone = model.sweep(now[0])
            [report] = caches.evict(pool=name, home=home, clock=clock)
            assert [e.ref for e in report.evicted] == expect_gone  # same order
            if report.usage_after > low * budget:
                leased = {r for r, hs in model.leases.items() if hs and r in model.cached}
                assert set(model.cached) == leased or report.usage_before <= high * budget

        entries = {e.ref: e for e in caches.list(pool=name, home=home)}
        assert list(sorted(entries)) == sorted(model.cached)
        for ref, e in entries.items():
            assert sorted(e.leases) == sorted(model.leases[ref])
            digest = {k: d for k, (d, _) in tree_digest(e.path).items()}
            assert {d for d in digest.values()} == {o[7:] for o in OBJECTS[ref]}
        on_disk = {p.parent.name + p.name for p in (path / "objects").glob("??/*")}
        wanted = {o[7:] for r in model.cached for o in OBJECTS[r]}
        all_files = {o[7:] for objs in OBJECTS.values() for o in objs}
        assert on_disk & all_files == wanted  # nothing needed is gone, nothing unneeded stays
        [s] = caches.stats(pool=name, home=home)
        assert (s.hits, s.misses, s.evictions) == (model.hits, model.misses, model.evictions)
        assert s.bytes == model.usage()
        total = s.hits + s.misses
        assert s.hit_ratio == (s.hits / total if total else 0.0)
        assert caches.problems(pool=name, home=home) == []  # accounting, objects, folders
