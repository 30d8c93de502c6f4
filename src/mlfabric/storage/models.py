"""What storage operations return (plain dataclasses, JSON-ready via ``to_dict``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any


def _iso(ts: float) -> str:
    stamp = dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")


class _Dict:
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)  # type: ignore[call-overload]
        for k, v in list(out.items()):
            if k.endswith("_at") and isinstance(v, float):
                out[k] = _iso(v)
        return out


@dataclass(frozen=True)
class Volume(_Dict):
    name: str
    path: str
    created_at: float
    driver: str
    size_limit: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    read_only: bool = False
    clone_mode: str | None = None
    origin: str | None = None  # "VOLUME@SNAPSHOT" this volume was cloned from
    snapshots: int = 0


@dataclass(frozen=True)
class Snapshot(_Dict):
    volume: str
    name: str
    created_at: float
    kind: str
    files: int | None
    bytes: int | None
    manifest_oid: str | None = None
    warnings: list[str] = field(default_factory=list)
    hashed_files: int | None = None  # files read to take it (None when listed)

    @property
    def ref(self) -> str:
        return f"{self.volume}@{self.name}"

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["ref"] = self.ref
        return out


@dataclass(frozen=True)
class Diff(_Dict):
    old: str
    new: str
    added: list[str]
    deleted: list[str]
    modified: list[str]
    mode_changed: list[str]


@dataclass(frozen=True)
class Restore(_Dict):
    volume: str
    snapshot: str
    safety_snapshot: str | None
    written: int
    removed: int
    metadata_fixed: int


@dataclass(frozen=True)
class Usage(_Dict):
    volume: str
    logical_bytes: int
    files: int
    snapshots: int
    snapshot_logical_bytes: int
    stored_bytes: int
    dedup_ratio: float
    size_limit: int | None
    over_size: bool
    warning: str | None


@dataclass(frozen=True)
class GcReport(_Dict):
    dry_run: bool
    objects_total: int
    objects_reachable: int
    objects_removed: int
    bytes_removed: int
    kept_in_grace: int
    leftovers_removed: list[str]


@dataclass(frozen=True)
class DamagedSnapshot(_Dict):
    snapshot: str
    paths: list[str]


@dataclass(frozen=True)
class VerifyReport(_Dict):
    ok: bool
    snapshots_checked: int
    objects_checked: int
    missing_objects: list[str]
    corrupt_objects: list[str]
    quarantined: list[str]
    damaged_snapshots: list[DamagedSnapshot]
    warnings: list[str]
