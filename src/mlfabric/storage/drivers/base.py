"""The storage driver interface. Operations in ``mlfabric.storage`` hold the locks, keep
the catalog and call these primitives; a driver owns only how bytes are laid out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlfabric.progress import Progress
from mlfabric.storage.manifest import Manifest

if TYPE_CHECKING:
    from mlfabric.storage.service import Storage


@dataclass
class SnapshotData:
    """What a driver produced for a new snapshot (the caller commits the catalog row)."""

    manifest_oid: str | None
    files: int | None
    bytes: int | None
    driver_ref: str | None = None
    warnings: list[str] = field(default_factory=list)
    hashed_files: int = 0
    # Called after the catalog row is committed (e.g. persist the stat index).
    after_commit: Any = None


@dataclass
class RestoreData:
    written: int
    removed: int
    metadata_fixed: int


class StorageDriver(Protocol):
    name: str

    def create_volume(self, storage: Storage, path: Path) -> None: ...

    def delete_volume(self, storage: Storage, path: Path) -> None: ...

    def recover(self, storage: Storage, path: Path) -> None:
        """Finish or undo a half-done operation on this volume path (after a crash)."""

    def snapshot(self, storage: Storage, volume: Any, name: str,
                 progress: Progress) -> SnapshotData: ...

    def manifest(self, storage: Storage, volume: Any, snapshot: Any) -> Manifest:
        """The manifest of a committed snapshot row."""

    def live_manifest(self, storage: Storage, volume: Any, progress: Progress) -> Manifest: ...

    def restore(self, storage: Storage, volume: Any, snapshot: Any,
                progress: Progress) -> RestoreData: ...

    def clone(self, storage: Storage, volume: Any, snapshot: Any, dest: Path, mode: str,
              progress: Progress) -> Any | None:
        """Create the volume directory ``dest`` with the snapshot's content; may return
        its stat index (a ``StatIndex``, so its first snapshot reads nothing)."""

    def delete_snapshot(self, storage: Storage, snapshot: Any) -> None: ...

    def check_snapshot(self, storage: Storage, volume: Any, snapshot: Any) -> list[str]:
        """Paths of a driver-held snapshot whose bytes are damaged ([] if none)."""

    def object_ids(self, storage: Storage, snapshot: Any) -> set[str]:
        """Store objects this snapshot needs (gc roots; objects ``verify`` re-hashes)."""
