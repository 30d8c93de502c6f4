"""What storage operations return (plain dataclasses, JSON-ready via ``to_dict``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlfabric.records import Record


@dataclass(frozen=True)
class Volume(Record):
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
class Snapshot(Record):
    volume: str
    name: str
    created_at: float
    kind: str
    files: int | None
    bytes: int | None
    manifest_oid: str | None = None
    warnings: list[str] = field(default_factory=list)
    hashed_files: int | None = None  # files read to take it (None when listed)

    computed = ("ref",)

    @property
    def ref(self) -> str:
        return f"{self.volume}@{self.name}"



@dataclass(frozen=True)
class Diff(Record):
    old: str
    new: str
    added: list[str]
    deleted: list[str]
    modified: list[str]
    mode_changed: list[str]


@dataclass(frozen=True)
class Restore(Record):
    volume: str
    snapshot: str
    safety_snapshot: str | None
    written: int
    removed: int
    metadata_fixed: int


@dataclass(frozen=True)
class RestorePlan(Record):
    """What ``snapshot restore`` would change in the live volume (``--dry-run``): paths
    written (missing or different), removed (not in the snapshot), and whose mode only is
    fixed; and whether a safety snapshot would be taken first."""

    volume: str
    snapshot: str
    write: list[str]
    remove: list[str]
    fix_mode: list[str]
    safety_snapshot: bool


@dataclass(frozen=True)
class DeletePlan(Record):
    """What ``volume delete`` would remove (``--dry-run``): the volume, its snapshots, the
    bytes of its live tree; ``needs_force`` when snapshots go with it. Clones made from it
    stay (they are volumes of their own). ``mounted_by``: who mounts it now (the delete
    is refused until they are gone)."""

    volume: str
    snapshots: list[str]
    files: int
    bytes: int
    needs_force: bool
    clones: list[str]
    mounted_by: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Usage(Record):
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
class GcReport(Record):
    dry_run: bool
    objects_total: int
    objects_reachable: int
    objects_removed: int
    bytes_removed: int
    kept_in_grace: int
    leftovers_removed: list[str]


@dataclass(frozen=True)
class DamagedSnapshot(Record):
    snapshot: str
    paths: list[str]


@dataclass(frozen=True)
class VerifyReport(Record):
    ok: bool
    snapshots_checked: int
    objects_checked: int
    missing_objects: list[str]
    corrupt_objects: list[str]
    quarantined: list[str]
    damaged_snapshots: list[DamagedSnapshot]
    warnings: list[str]
