"""What cache operations return (plain dataclasses, JSON-ready via ``to_dict``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlfabric.records import Record


@dataclass(frozen=True)
class Pool(Record):
    name: str
    path: str
    budget: int
    ttl: float
    high: float
    low: float
    created_at: float


@dataclass(frozen=True)
class CacheEntry(Record):
    pool: str
    dataset: str
    version: str
    state: str  # complete, partial (prepopulated paths only)
    path: str
    files: int
    bytes: int
    created_at: float
    last_used_at: float
    uses: int
    leases: list[str] = field(default_factory=list)  # holders
    paths: list[str] | None = None  # prepopulate selections of a partial entry
    hit: bool | None = None  # add: found complete in the pool (None when listed)
    fetched_objects: int = 0
    fetched_bytes: int = 0

    computed = ("ref",)

    @property
    def ref(self) -> str:
        return f"{self.dataset}:{self.version}"



@dataclass(frozen=True)
class Lease(Record):
    pool: str
    dataset: str
    version: str
    holder: str
    path: str
    acquired_at: float


@dataclass(frozen=True)
class CacheStats(Record):
    pool: str
    path: str
    entries: int
    bytes: int  # on disk, objects shared by entries counted once
    budget: int
    usage_ratio: float
    high: float
    low: float
    ttl: float
    leases: int
    hits: int
    misses: int
    hit_ratio: float  # hits / (hits + misses); 0 before the first add
    evictions: int
    bytes_fetched: int
    bytes_evicted: int


@dataclass(frozen=True)
class Evicted(Record):
    ref: str
    reason: str  # ttl, lru, removed, orphan
    bytes: int  # freed (objects no remaining entry needs)


@dataclass(frozen=True)
class SweepReport(Record):
    pool: str
    dry_run: bool
    budget: int
    usage_before: int
    usage_after: int
    evicted: list[Evicted]
    objects_removed: int
    bytes_removed: int
    blocked: bool  # above the low watermark, held by leased entries
