"""The default driver: plain directories, snapshots as manifests in the object store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfabric.errors import MlfabricError
from mlfabric.progress import Progress
from mlfabric.storage.drivers.base import RestoreData, SnapshotData
from mlfabric.storage.fsops import fs_now_ns, remove_tree
from mlfabric.storage.manifest import Manifest, manifest_body
from mlfabric.storage.materialize import apply_tree, link_tree, plan_tree
from mlfabric.storage.scan import (
    ScanResult,
    StatIndex,
    forget_objects,
    scan_tree,
    smudge,
    smudge_recent,
)

if TYPE_CHECKING:
    from mlfabric.storage.service import Storage


class LocalDriver:
    name = "local"

    def create_volume(self, storage: Storage, path: Path) -> None:
        path.mkdir(mode=0o755)

    def delete_volume(self, storage: Storage, path: Path) -> None:
        remove_tree(path)

    def recover(self, storage: Storage, path: Path) -> None:
        """Restores and clones stage under the tmp area: nothing to finish in place."""

    # -- snapshots --------------------------------------------------------------------
    def _scan(self, storage: Storage, volume: Any, progress: Progress, *, store: bool
              ) -> tuple[ScanResult, int]:
        """Scan the live tree; quarantined objects found on the way are forgotten by every
        stat index, so no later snapshot refers to them."""
        path = storage.volume_path(volume.name)
        if not path.is_dir():
            raise MlfabricError(f"volume '{volume.name}' data directory {path} is missing")
        marker = fs_now_ns(storage.config.tmp_dir)
        old = StatIndex.load(storage.index_path(volume.id))
        result = scan_tree(path, old, marker_ns=marker, store=storage.objects if store else None,
                           progress=progress, shared_inodes=bool(volume.read_only))
        if result.tampered_objects:
            forget_objects(storage.config.index_dir, set(result.tampered_objects))
        return result, marker

    def snapshot(self, storage: Storage, volume: Any, name: str,
                 progress: Progress) -> SnapshotData:
        result, _ = self._scan(storage, volume, progress, store=True)
        index = result.index
        if result.unchanged and index.manifest_oid and storage.objects.exists(index.manifest_oid):
            manifest_oid = index.manifest_oid
        else:
            objects = storage.objects
            manifest_oid = objects.put_bytes(index.manifest_bytes(objects.read_bytes))
            index.manifest_oid = manifest_oid
        files, nbytes = index.totals()
        index_path = storage.index_path(volume.id)

        def after_commit() -> None:
            if not result.unchanged:
                index.save(index_path)

        return SnapshotData(manifest_oid, files, nbytes, warnings=result.warnings,
                            hashed_files=result.hashed_files, after_commit=after_commit)

    def manifest(self, storage: Storage, volume: Any, snapshot: Any) -> Manifest:
        return Manifest.from_bytes(storage.objects.read_bytes(snapshot.manifest_oid),
                                   name=f"manifest of {volume.name}@{snapshot.name}")

    def live_manifest(self, storage: Storage, volume: Any, progress: Progress) -> Manifest:
        result, _ = self._scan(storage, volume, progress, store=False)
        return result.index.manifest()

    def restore(self, storage: Storage, volume: Any, snapshot: Any,
                progress: Progress) -> RestoreData:
        target = self.manifest(storage, volume, snapshot)
        # The safety snapshot (if any) just refreshed the index: this scan reads nothing new.
        scan, _ = self._scan(storage, volume, progress, store=True)
        plan = plan_tree(scan.index.manifest(), target)
        rows = apply_tree(storage.volume_path(volume.name), plan, storage.objects, mode="copy",
                          tmp_dir=storage.config.tmp_dir, progress=progress)
        marker = fs_now_ns(storage.config.tmp_dir)
        new_rows = {p: r for p, r in scan.index.rows.items() if p in target.entries}
        new_rows.update(rows)
        index = StatIndex(smudge(new_rows, marker))
        index.manifest_oid = snapshot.manifest_oid if set(new_rows) == set(target.entries) else None
        index.save(storage.index_path(volume.id))
        return RestoreData(len(plan.write), len(plan.remove), len(plan.fix_meta))

    def clone(self, storage: Storage, volume: Any, snapshot: Any, dest: Path, mode: str,
              progress: Progress) -> StatIndex:
        data = storage.objects.read_bytes(snapshot.manifest_oid)
        staging = storage.config.tmp_dir / f"clone-{dest.name}-{os.getpid()}"
        remove_tree(staging)
        staging.mkdir(mode=0o755)

        def marker() -> int:
            return fs_now_ns(storage.config.tmp_dir)
        try:
            body = manifest_body(data)
            if mode == "link" and body is not None:
                index = link_tree(staging, body, storage.objects, marker=marker,
                                  progress=progress)
            else:
                target = Manifest.from_bytes(
                    data, name=f"manifest of {volume.name}@{snapshot.name}")
                rows = apply_tree(staging, plan_tree(Manifest(), target), storage.objects,
                                  mode=mode, progress=progress)
                index = StatIndex(smudge_recent(rows, marker()))
            os.rename(staging, dest)
        except BaseException:
            remove_tree(staging)
            raise
        index.manifest_oid = snapshot.manifest_oid
        return index

    def delete_snapshot(self, storage: Storage, snapshot: Any) -> None:
        """Manifests and objects stay until ``gc`` finds them unreachable."""

    def check_snapshot(self, storage: Storage, volume: Any, snapshot: Any) -> list[str]:
        return []  # its bytes are store objects, which verify re-hashes

    def object_ids(self, storage: Storage, snapshot: Any) -> set[str]:
        if not snapshot.manifest_oid:
            return set()
        m = Manifest.from_bytes(storage.objects.read_bytes(snapshot.manifest_oid))
        return m.object_ids() | {snapshot.manifest_oid}
