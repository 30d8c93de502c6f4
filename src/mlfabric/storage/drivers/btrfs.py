"""The btrfs driver: volumes are subvolumes; snapshots, clones and restores are btrfs
snapshots, O(1) whatever the volume's size.

A snapshot holds its bytes in a read-only subvolume, not in the object store. Its manifest
is computed lazily, the first time a diff, usage or restore needs it, by scanning that
subvolume, and is then cached (manifest object in the store, id in the catalog row).
"""

from __future__ import annotations

import contextlib
import marshal
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfabric.catalog import schema
from mlfabric.durable import atomic_write
from mlfabric.errors import CorruptData, InvalidInput, MlfabricError
from mlfabric.progress import Progress
from mlfabric.storage.drivers.base import RestoreData, SnapshotData
from mlfabric.storage.fsops import filesystem_type, fs_now_ns, remove_tree
from mlfabric.storage.manifest import Entry, Manifest
from mlfabric.storage.materialize import MODES, plan_tree
from mlfabric.storage.scan import IndexRow, StatIndex, scan_tree, smudge

if TYPE_CHECKING:
    from mlfabric.storage.service import Storage

# The root directory of every btrfs subvolume has this inode number (BTRFS_FIRST_FREE_OBJECTID).
_SUBVOLUME_ROOT_INO = 256
_INDEX_SUFFIX = "btrfs-idx"
_INDEX_VERSION = 1


def run_btrfs(*args: str | os.PathLike[str]) -> str:
    """Run ``btrfs ARGS...``; a failure becomes one line with btrfs's own explanation."""
    cmd = ["btrfs", *(os.fspath(a) for a in args)]
    try:
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise MlfabricError("storage driver btrfs: the 'btrfs' command is missing "
                            "(install btrfs-progs)") from exc
    except subprocess.CalledProcessError as exc:
        detail = " ".join((exc.stderr or exc.stdout or "").split())
        raise MlfabricError(f"'{' '.join(cmd)}' failed: "
                            f"{detail or f'exit status {exc.returncode}'}") from exc
    return done.stdout


def is_subvolume(path: Path) -> bool:
    """True when ``path`` is the root directory of a btrfs subvolume."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_ino == _SUBVOLUME_ROOT_INO
            and filesystem_type(path) == "btrfs")


def remove_subvolume_or_tree(path: Path) -> None:
    """Delete a subvolume (read-only ones included), or a plain directory or file."""
    if is_subvolume(path):
        run_btrfs("subvolume", "delete", path)
    elif path.exists() or path.is_symlink():
        remove_tree(path)


@dataclass
class _DriverIndex:
    """One volume's stat index, shared by its live subvolume and its snapshots.

    A btrfs snapshot keeps inode numbers, sizes and times, so a row taken from the live
    tree also matches the unchanged file in a snapshot and the other way round. Snapshots
    are scanned long after they were taken, so git's racy-clean rule must use the moment
    the snapshot was taken, not the scan's: ``markers`` keeps, per snapshot name, the file
    system's time just before it was taken. Without a marker every file is re-hashed.
    """

    rows: dict[str, IndexRow] = field(default_factory=dict)
    markers: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def owner(volume: Any) -> list[Any]:
        # Volume ids can be reused after a delete: an index of another volume is ignored.
        return [volume.name, float(volume.created_at)]

    @classmethod
    def load(cls, path: Path, volume: Any) -> _DriverIndex:
        """Load the index; a missing, unreadable or foreign one is empty (costs re-hashing)."""
        try:
            with open(path, "rb") as f:
                doc = marshal.load(f)
            if doc.get("version") != _INDEX_VERSION or doc.get("owner") != cls.owner(volume):
                return cls()
            return cls(dict(doc["rows"]), dict(doc["markers"]))
        except (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError):
            return cls()

    def save(self, path: Path, volume: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, marshal.dumps({"version": _INDEX_VERSION,
                                          "owner": self.owner(volume), "rows": self.rows,
                                          "markers": self.markers}), durable=False)


def _content(e: Entry | None) -> tuple[str, str] | None:
    return None if e is None else (e.kind, e.ref)


class BtrfsDriver:
    name = "btrfs"

    # -- layout -----------------------------------------------------------------------
    @staticmethod
    def _snapshots_root(storage: Storage) -> Path:
        """``$HOME/snapshots``, unless the volumes dir is a separate mount: a btrfs snapshot
        cannot leave its file system, so then they live beside the volumes."""
        cfg = storage.config
        probe = cfg.snapshots_dir if cfg.snapshots_dir.exists() else cfg.home
        if os.stat(probe).st_dev == os.stat(cfg.volumes_dir).st_dev:
            return cfg.snapshots_dir
        return cfg.volumes_dir / ".snapshots"

    @staticmethod
    def _restore_temps(path: Path) -> tuple[Path, Path]:
        # Dot names: gc never takes them for orphan volumes.
        return (path.with_name(f".restore-new-{path.name}"),
                path.with_name(f".restore-old-{path.name}"))

    @staticmethod
    def _index_path(storage: Storage, volume: Any) -> Path:
        # Not the ".idx" index: gc and verify expect every oid in those to be in the store.
        return storage.index_path(volume.id, _INDEX_SUFFIX)

    # -- volumes ----------------------------------------------------------------------
    def create_volume(self, storage: Storage, path: Path) -> None:
        run_btrfs("subvolume", "create", path)

    def delete_volume(self, storage: Storage, path: Path) -> None:
        for temp in self._restore_temps(path):
            remove_subvolume_or_tree(temp)
        remove_subvolume_or_tree(path)

    def recover(self, storage: Storage, path: Path) -> None:
        """Finish a restore that swapped subvolumes halfway, or undo one that had not."""
        new, old = self._restore_temps(path)
        if not path.exists():
            if new.exists():
                os.rename(new, path)
            elif old.exists():
                os.rename(old, path)
        remove_subvolume_or_tree(new)
        if path.exists():
            remove_subvolume_or_tree(old)

    def _live_path(self, storage: Storage, volume: Any) -> Path:
        path = storage.volume_path(volume.name)
        self.recover(storage, path)
        if not path.is_dir():
            raise MlfabricError(f"volume '{volume.name}' data directory {path} is missing")
        return path

    # -- snapshots --------------------------------------------------------------------
    def snapshot(self, storage: Storage, volume: Any, name: str,
                 progress: Progress) -> SnapshotData:
        src = self._live_path(storage, volume)
        dest = self._snapshots_root(storage) / str(volume.id) / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_subvolume_or_tree(dest)  # a crash leftover: no catalog row has this name
        marker = fs_now_ns(storage.config.tmp_dir)  # before: later writes are not older
        run_btrfs("subvolume", "snapshot", "-r", src, dest)
        index_path = self._index_path(storage, volume)

        def after_commit() -> None:
            index = _DriverIndex.load(index_path, volume)
            index.markers[name] = marker
            index.save(index_path, volume)

        return SnapshotData(None, None, None, driver_ref=str(dest), after_commit=after_commit)

    def manifest(self, storage: Storage, volume: Any, snapshot: Any) -> Manifest:
        if snapshot.manifest_oid:
            with contextlib.suppress(FileNotFoundError, CorruptData):
                return Manifest.from_bytes(storage.objects.read_bytes(snapshot.manifest_oid),
                                           name=f"manifest of {volume.name}@{snapshot.name}")
            # The cached copy is gone or damaged: the subvolume is the truth, index it again.
        path = Path(snapshot.driver_ref or "")
        if not snapshot.driver_ref or not path.is_dir():
            raise MlfabricError(f"snapshot '{volume.name}@{snapshot.name}': its subvolume "
                                f"{path} is missing")
        index_path = self._index_path(storage, volume)
        index = _DriverIndex.load(index_path, volume)
        marker = index.markers.get(snapshot.name, 0)
        # Rows touched at or after the snapshot began may describe a later write within
        # the same timestamp tick: re-hash those.
        result = scan_tree(path, StatIndex(smudge(index.rows, marker)), marker_ns=marker,
                           store=None)
        manifest = result.index.manifest()
        oid = storage.objects.put_bytes(manifest.to_bytes())
        files, nbytes = len(manifest.files), manifest.total_bytes
        s = schema.snapshots

        def _cache(conn):  # type: ignore[no-untyped-def]
            conn.execute(s.update().where(s.c.id == snapshot.id)
                         .values(manifest_oid=oid, files=files, bytes=nbytes))

        storage.catalog.run_write(_cache)
        if marker:
            index.rows = result.index.rows
            index.save(index_path, volume)
        return manifest

    def live_manifest(self, storage: Storage, volume: Any, progress: Progress) -> Manifest:
        path = self._live_path(storage, volume)
        index_path = self._index_path(storage, volume)
        index = _DriverIndex.load(index_path, volume)
        marker = fs_now_ns(storage.config.tmp_dir)
        result = scan_tree(path, StatIndex(index.rows), marker_ns=marker, store=None,
                           progress=progress)
        index.rows = result.index.rows
        index.save(index_path, volume)
        return result.index.manifest()

    def restore(self, storage: Storage, volume: Any, snapshot: Any,
                progress: Progress) -> RestoreData:
        path = self._live_path(storage, volume)
        source = Path(snapshot.driver_ref or "")
        if not snapshot.driver_ref or not is_subvolume(source):
            raise MlfabricError(f"snapshot '{volume.name}@{snapshot.name}': its subvolume "
                                f"{source} is missing")
        # The counts cost a scan (hashing only what changed); the swap itself is O(1).
        plan = plan_tree(self.live_manifest(storage, volume, progress),
                         self.manifest(storage, volume, snapshot))
        new, old = self._restore_temps(path)
        run_btrfs("subvolume", "snapshot", source, new)
        # Each step leaves a state recover() completes or rolls back after a crash.
        os.rename(path, old)
        os.rename(new, path)
        remove_subvolume_or_tree(old)
        return RestoreData(len(plan.write), len(plan.remove), len(plan.fix_meta))

    def clone(self, storage: Storage, volume: Any, snapshot: Any, dest: Path, mode: str,
              progress: Progress) -> None:
        if mode not in MODES:
            raise InvalidInput(f"invalid mode '{mode}': expected one of {', '.join(MODES)}",
                               field="mode", value=mode)
        source = Path(snapshot.driver_ref or "")
        if not snapshot.driver_ref or not is_subvolume(source):
            raise MlfabricError(f"snapshot '{volume.name}@{snapshot.name}': its subvolume "
                                f"{source} is missing")
        if mode == "link":
            run_btrfs("subvolume", "snapshot", "-r", source, dest)
        elif mode in ("auto", "reflink"):
            run_btrfs("subvolume", "snapshot", source, dest)
        else:
            run_btrfs("subvolume", "create", dest)
            try:
                shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)
            except BaseException as exc:
                remove_subvolume_or_tree(dest)
                if isinstance(exc, OSError):
                    raise MlfabricError(f"clone of '{volume.name}@{snapshot.name}' into "
                                        f"{dest} failed: {exc}") from exc
                raise
        return None

    def delete_snapshot(self, storage: Storage, snapshot: Any) -> None:
        if not snapshot.driver_ref:
            return
        path = Path(snapshot.driver_ref)
        remove_subvolume_or_tree(path)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # the volume's snapshot folder, once empty

    def check_snapshot(self, storage: Storage, volume: Any, snapshot: Any) -> list[str]:
        path = Path(snapshot.driver_ref or "")
        if not snapshot.driver_ref or not path.is_dir():
            return ["<subvolume>"]
        if not snapshot.manifest_oid:
            return []  # never indexed: nothing recorded to compare against
        try:
            expected = Manifest.from_bytes(storage.objects.read_bytes(snapshot.manifest_oid))
        except (FileNotFoundError, CorruptData):
            return ["<manifest>"]
        actual = scan_tree(path, StatIndex(), marker_ns=0, store=None).index.manifest()
        paths = sorted(set(expected.entries) | set(actual.entries))
        return [p for p in paths
                if _content(expected.entries.get(p)) != _content(actual.entries.get(p))]

    def object_ids(self, storage: Storage, snapshot: Any) -> set[str]:
        # The file bytes live in the subvolume; only the cached manifest is in the store.
        return {snapshot.manifest_oid} if snapshot.manifest_oid else set()
