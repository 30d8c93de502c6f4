"""A pool's directories, its lock, and recovery from a crash.

Everything that changes a pool's files (adding, evicting, removing) holds its exclusive
lock; a cache hit or a lease only touches the catalog. Taking the lock first finishes
what a killed process left: entries half-evicted are completed, staging and trash are
emptied, and entry directories without a catalog row are removed (never shown).

Fetched objects are not fsynced one by one (a cache can fetch again; ``cp`` does not
fsync either). Before writing, a pool records the boot it writes in (``.unsynced``).
Within that boot every reader sees the page cache, so nothing is amiss; the next locked
operation flushes the file system once and clears the mark. Should the machine go down
first, the mark names an earlier boot: before anything is served again, every entry's
objects are checked (a crash leaves unsynced files empty or short), and entries with a
damaged object are dropped, to be fetched again.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from mlfabric.catalog import schema
from mlfabric.durable import atomic_write, syncfs
from mlfabric.errors import CorruptData
from mlfabric.home import Home
from mlfabric.locks import file_lock
from mlfabric.storage.fsops import remove_tree
from mlfabric.storage.manifest import Manifest
from mlfabric.storage.objects import ObjectStore

E = schema.cache_entries
LOCK_WAIT_S = 3600.0
EVICTING = "evicting"
UNSYNCED = ".unsynced"
COMPLETE = "complete"
PARTIAL = "partial"


@dataclass(frozen=True)
class PoolDirs:
    root: Path

    @property
    def entries(self) -> Path:
        return self.root / "entries"

    @property
    def store(self) -> ObjectStore:
        return ObjectStore(self.root / "objects")

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def trash(self) -> Path:
        return self.root / "trash"

    def entry(self, dataset: str, version: str) -> Path:
        return self.entries / dataset / version

    def ensure(self) -> None:
        for d in (self.entries, self.tmp, self.trash):
            d.mkdir(parents=True, exist_ok=True)
        self.store.ensure()

    def scratch(self, label: str) -> Path:
        return self.tmp / f"{label}-{os.getpid()}-{os.urandom(4).hex()}"


def dirs_of(pool: Any) -> PoolDirs:
    return PoolDirs(Path(pool.path))


def tree_of(dirs: PoolDirs, row: Any) -> Manifest | None:
    """What an entry holds (its tree manifest in the pool store); None if unreadable."""
    with contextlib.suppress(CorruptData, FileNotFoundError):
        return Manifest.from_bytes(dirs.store.read_bytes(row.tree_oid))
    return None


def to_trash(dirs: PoolDirs, path: Path) -> None:
    """Rename an entry tree into the trash (atomic: it is whole, or gone), then delete."""
    if not (path.exists() or path.is_symlink()):
        return
    dest = dirs.trash / f"{path.parent.name}-{path.name}-{os.urandom(6).hex()}"
    os.rename(path, dest)
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # entries/DATASET, once its last version is gone
    remove_tree(dest)


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # pragma: no cover - not Linux: every start counts as a new boot
        return f"pid-{os.getpid()}"


def mark_unsynced(dirs: PoolDirs) -> None:
    """Record (durably) that objects are about to be written without fsync."""
    mark = dirs.root / UNSYNCED
    current = boot_id()
    with contextlib.suppress(OSError):
        if mark.read_text().strip() == current:
            return
    atomic_write(mark, current + "\n")


def crashed_unsynced(dirs: PoolDirs) -> bool:
    """True when objects written without fsync may not have survived a reboot."""
    try:
        return (dirs.root / UNSYNCED).read_text().strip() != boot_id()
    except FileNotFoundError:
        return False


def _settle(st: Home, pool: Any, dirs: PoolDirs, rows: list[Any]) -> list[int]:
    """Clear the unsynced mark; after a reboot first drop entries whose objects did not
    survive. Returns the ids of the rows dropped."""
    mark = dirs.root / UNSYNCED
    if not mark.exists():
        return []
    dropped = []
    if crashed_unsynced(dirs):
        for r in rows:
            tree = tree_of(dirs, r)
            bad = ({e.ref for e in tree.files if not dirs.store.looks_intact(e.ref, e.size)}
                   if tree is not None else None)
            if bad is None or bad:
                for oid in bad or ():
                    dirs.store.quarantine(oid)
                to_trash(dirs, dirs.entry(r.dataset, r.version))
                dropped.append(r.id)
    syncfs(dirs.root)
    mark.unlink()
    return dropped


def recover(st: Home, pool: Any, dirs: PoolDirs) -> None:
    """Finish or undo what an interrupted add or eviction left (lock held)."""
    dirs.ensure()

    def _rows(conn: Connection) -> list[Any]:
        return conn.execute(select(E).where(E.c.pool_id == pool.id)).all()

    rows = st.catalog.run_read(_rows)
    gone = _settle(st, pool, dirs, [r for r in rows if r.state != EVICTING])
    for r in rows:
        path = dirs.entry(r.dataset, r.version)
        if r.state == EVICTING:
            to_trash(dirs, path)
            gone.append(r.id)
        elif not path.is_dir():
            gone.append(r.id)  # deleted behind our back: forget it
    if gone:
        st.catalog.run_write(lambda c: c.execute(E.delete().where(E.c.id.in_(gone))))
    known = {(r.dataset, r.version) for r in rows if r.id not in gone}
    if dirs.entries.is_dir():
        for ds in os.scandir(dirs.entries):
            if not ds.is_dir(follow_symlinks=False):
                continue
            for ver in os.scandir(ds.path):
                if (ds.name, ver.name) not in known:
                    to_trash(dirs, Path(ver.path))
            with contextlib.suppress(OSError):
                os.rmdir(ds.path)
    for area in (dirs.tmp, dirs.trash, dirs.store.tmp):
        for p in area.iterdir():
            remove_tree(p)


@contextlib.contextmanager
def locked(st: Home, pool: Any, *, wait_s: float = LOCK_WAIT_S) -> Iterator[PoolDirs]:
    """Hold the pool's exclusive lock, after recovery."""
    dirs = dirs_of(pool)
    dirs.root.mkdir(parents=True, exist_ok=True)
    with file_lock(dirs.root / ".lock", wait_s=wait_s, what=f"cache pool '{pool.name}'"):
        recover(st, pool, dirs)
        yield dirs
