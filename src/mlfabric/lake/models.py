"""What remote and dataset operations return (plain dataclasses, JSON-ready via
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
