"""What remote, dataset and cache operations return (plain dataclasses, JSON-ready via
``to_dict``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlfabric.records import Record


@dataclass(frozen=True)
class Remote(Record):
    name: str
    url: str
    endpoint_url: str | None
    options: dict[str, Any]
    timeout: float
    created_at: float
    datasets: int = 0


@dataclass(frozen=True)
class Dataset(Record):
    name: str
    remote: str
    created_at: float
    versions: int
    latest: str | None


@dataclass(frozen=True)
class DatasetVersion(Record):
    dataset: str
    version: str
    remote: str
    manifest_oid: str
    source: str | None  # "VOLUME@SNAPSHOT" it was pushed from
    created_at: float
    files: int
    bytes: int
    objects: int
    uploaded_objects: int | None = None  # objects this push sent (None when listed)
    uploaded_bytes: int | None = None
    unchanged: bool = False  # a push found the latest version already has this content
    lineage: list[str] = field(default_factory=list)  # volume -> snapshot -> version
    pulled_into: list[str] = field(default_factory=list)  # volumes made from it
    cached_in: list[str] = field(default_factory=list)  # cache pools holding it

    computed = ("ref",)

    @property
    def ref(self) -> str:
        return f"{self.dataset}:{self.version}"



@dataclass(frozen=True)
class PushPlan(Record):
    """What ``dataset push`` would do (``--dry-run``): the version it would make, or that
    the content equals the latest version's, and what the lake lacks."""

    dataset: str
    remote: str
    source: str  # VOLUME@SNAPSHOT, or VOLUME for its live tree
    version: str  # the next version (a concurrent push may take it), or the unchanged one
    files: int
    bytes: int
    objects: int
    unchanged: bool
    upload_objects: int
    upload_bytes: int


@dataclass(frozen=True)
class Pull(Record):
    dataset: str
    version: str
    volume: str
    path: str
    files: int
    bytes: int
    fetched_objects: int
    fetched_bytes: int


@dataclass(frozen=True)
class Deleted(Record):
    dataset: str
    version: str
    cache_entries_removed: list[str]
    cache_entries_kept: list[str]  # leased entries, swept once released


@dataclass(frozen=True)
class RemoteGcReport(Record):
    remote: str
    dry_run: bool
    versions: int
    objects_total: int
    objects_reachable: int
    objects_removed: int
    bytes_removed: int
    manifests_removed: int
    kept_in_grace: int
    leftovers_removed: int


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
class CachePlan(Record):
    """What ``cache add`` would do (``--dry-run``): a hit, or what it would fetch and
    which entries it would evict to make room; usage in bytes, before and after."""

    ref: str
    pool: str
    hit: bool
    files: int
    bytes: int
    fetch_objects: int
    fetch_bytes: int
    evict: list[str]
    usage_before: int
    usage_after: int


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
