"""Which cache entries to evict, and in what order. Pure: no I/O, ``now`` is given.

Rules, applied to unleased (and unpinned) entries, least recently used first:

1. An entry unused for longer than the TTL (``now - last_used > ttl``) is evicted.
2. When usage (plus ``reserve``, room wanted for an entry being added) is above the high
   watermark (``high * budget``) at the start, entries keep being evicted until it is
   at or below the low watermark (``low * budget``).

Usage counts each object once, however many entries share it; evicting an entry frees
only the objects no remaining entry needs. Leased entries are never evicted, so usage
may stay above the target (``blocked``) when leases hold the rest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mlfabric.errors import InvalidInput

TTL = "ttl"
LRU = "lru"


@dataclass(frozen=True)
class Candidate:
    """An entry as the policy sees it; ``objects`` maps object id to size."""

    key: str
    last_used: float
    leased: bool = False
    objects: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    budget: int
    high: float = 0.9
    low: float = 0.8
    ttl: float = 86400.0

    def validate(self) -> Limits:
        if self.budget <= 0:
            raise InvalidInput(f"invalid cache size {self.budget}: must be positive",
                               field="size")
        if not 0 < self.low <= self.high <= 1:
            raise InvalidInput(f"invalid watermarks high={self.high:g} low={self.low:g}: "
                               "need 0 < low <= high <= 1", field="watermarks")
        if self.ttl < 0:
            raise InvalidInput(f"invalid ttl {self.ttl:g}: must not be negative", field="ttl")
        return self

    @property
    def high_bytes(self) -> float:
        return self.high * self.budget

    @property
    def low_bytes(self) -> float:
        return self.low * self.budget


@dataclass(frozen=True)
class Eviction:
    key: str
    reason: str  # "ttl" or "lru"
    freed: int  # bytes no remaining entry needs


@dataclass(frozen=True)
class Decision:
    evict: list[Eviction]
    usage_before: int
    usage_after: int
    triggered: bool  # usage + reserve was above the high watermark
    blocked: bool  # still above the low watermark: the rest is leased or pinned

    @property
    def keys(self) -> list[str]:
        return [e.key for e in self.evict]


def usage(entries: Iterable[Candidate]) -> int:
    """Bytes the entries hold, each object counted once."""
    sizes: dict[str, int] = {}
    for e in entries:
        sizes.update(e.objects)
    return sum(sizes.values())


def choose_evictions(entries: Iterable[Candidate], limits: Limits, now: float, *,
                     reserve: int = 0, pinned: Iterable[str] = ()) -> Decision:
    """The entries to evict, in eviction order."""
    entries = list(entries)
    keep = set(pinned)
    refs: Counter[str] = Counter()
    sizes: dict[str, int] = {}
    for e in entries:
        refs.update(e.objects.keys())
        sizes.update(e.objects)
    used = sum(sizes.values())
    before = used
    triggered = used + reserve > limits.high_bytes
    order = sorted((e for e in entries if not e.leased and e.key not in keep),
                   key=lambda e: (e.last_used, e.key))
    chosen: list[Eviction] = []
    for e in order:
        expired = now - e.last_used > limits.ttl
        if not expired and not (triggered and used + reserve > limits.low_bytes):
            break  # later entries are fresher: none is expired either
        freed = 0
        for oid in e.objects:
            refs[oid] -= 1
            if refs[oid] == 0:
                freed += sizes[oid]
        used -= freed
        chosen.append(Eviction(e.key, TTL if expired else LRU, freed))
    blocked = triggered and used + reserve > limits.low_bytes
    return Decision(chosen, before, used, triggered, blocked)
