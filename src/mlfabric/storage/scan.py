"""Scanning a live tree into a manifest, hashing only files whose stat changed.

The stat index maps path -> (size, mtime_ns, ctime_ns, inode, mode) plus the content id
last seen. A file whose stat key matches its index entry is not read again. Git's
racy-clean rule: an entry whose mtime or ctime is not older than the moment the scan
began (measured on the file system's own clock) may have changed again within the
timestamp granularity, so it is stored untrusted and re-hashed by the next scan.
"""

from __future__ import annotations

import marshal
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mlfabric.errors import MlfabricError
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage.bulk import paused_gc
from mlfabric.storage.manifest import DIR, FILE, LINK, Entry, Manifest, encode_rows
from mlfabric.storage.objects import ObjectStore, hash_path

# path -> (size, mtime_ns, ctime_ns, ino, mode, kind, ref, trusted)
IndexRow = tuple[int, int, int, int, int, str, str, bool]
_INDEX_VERSION = 1
_HASH_WORKERS = 4
_S_IFMT, _S_IFREG, _S_IFDIR = stat.S_IFMT(0o170000), stat.S_IFREG, stat.S_IFDIR


@dataclass
class StatIndex:
    """The per-volume stat cache; ``manifest_oid`` is the manifest the rows describe exactly."""

    rows: dict[str, IndexRow] = field(default_factory=dict)
    manifest_oid: str | None = None
    # Totals of the manifest, kept so an unchanged snapshot needs no pass over the rows.
    files: int | None = None
    bytes: int | None = None

    def totals(self) -> tuple[int, int]:
        """(files, bytes) of regular files."""
        if self.files is None or self.bytes is None:
            sizes = [r[0] for r in self.rows.values() if r[5] == FILE]
            self.files, self.bytes = len(sizes), sum(sizes)
        return self.files, self.bytes

    def manifest_bytes(self) -> bytes:
        """The serialized manifest, straight from the rows (no Entry objects built)."""
        with paused_gc():
            rows = [(p, r[5], r[6], r[4], r[0], r[1] if r[5] != DIR else 0)
                    for p, r in sorted(self.rows.items())]
            return encode_rows(rows)

    @classmethod
    def load(cls, path: Path) -> StatIndex:
        """Load an index; a missing or unreadable one is empty (it only costs re-hashing)."""
        try:
            data = path.read_bytes()  # marshal.load(file) reads object by object: slow
            with paused_gc():
                doc = marshal.loads(data)
            if doc.get("version") != _INDEX_VERSION:
                return cls()
            return cls(doc["rows"], doc.get("manifest_oid"), doc.get("files"), doc.get("bytes"))
        except (OSError, EOFError, ValueError, TypeError, KeyError):
            return cls()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        files, nbytes = self.totals()
        data = marshal.dumps({"version": _INDEX_VERSION, "rows": self.rows,
                              "manifest_oid": self.manifest_oid, "files": files,
                              "bytes": nbytes})
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def object_ids(self) -> set[str]:
        ids = {r[6] for r in self.rows.values() if r[5] == FILE}
        if self.manifest_oid:
            ids.add(self.manifest_oid)
        return ids

    def manifest(self) -> Manifest:
        with paused_gc():
            return Manifest({p: Entry(p, r[5], r[6], r[4], r[0], r[1] if r[5] != DIR else 0)
                             for p, r in self.rows.items()})


@dataclass
class ScanResult:
    index: StatIndex
    unchanged: bool
    hashed_files: int = 0
    hashed_bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    # Objects found rewritten in place through a hard link of a ``--mode link`` clone.
    tampered_objects: list[str] = field(default_factory=list)


def _key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)


def scan_tree(root: Path, old: StatIndex, *, marker_ns: int, store: ObjectStore | None,
              progress: Progress = NO_PROGRESS, shared_inodes: bool = False) -> ScanResult:
    """Walk ``root``; reuse index rows whose stat key matches, hash (and, with ``store``,
    store) the rest. Returns the new index; ``unchanged`` means it equals ``old`` exactly.
    ``shared_inodes``: the tree hard-links store objects (a link clone), so a file changed
    without being replaced (same inode) was written in place through shared storage."""
    rows: dict[str, IndexRow] = {}
    old_rows = old.rows
    pending: list[tuple[str, str, os.stat_result]] = []
    warnings: list[str] = []
    progress.start("scanning", None)
    with paused_gc():
        matched = _walk(root, old_rows, rows, pending, warnings, progress)
    progress.finish()

    result = ScanResult(StatIndex(rows), unchanged=False, warnings=warnings)
    if pending:
        _hash_pending(pending, old_rows, rows, result, store, marker_ns, progress,
                      shared_inodes)
        if store is not None:
            store.sync()  # one flush for the batch, before anything can refer to it
    result.unchanged = (not pending and matched == len(old_rows) == len(rows)
                        and old.manifest_oid is not None)
    if result.unchanged:
        result.index.manifest_oid = old.manifest_oid
        result.index.files, result.index.bytes = old.files, old.bytes
    return result


def _walk(root: Path, old_rows: dict[str, IndexRow], rows: dict[str, IndexRow],
          pending: list[tuple[str, str, os.stat_result]], warnings: list[str],
          progress: Progress) -> int:
    """Fill ``rows`` with entries whose stat matches ``old_rows``; queue the rest in
    ``pending``. Returns how many entries matched."""
    matched = 0
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        dirpath, prefix = stack.pop()
        try:
            it = os.scandir(dirpath)
        except OSError as exc:
            raise MlfabricError(f"cannot read directory '{dirpath}': {exc.strerror}") from exc
        with it:
            for de in it:
                rel = prefix + de.name
                try:
                    st = de.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                mode = st.st_mode
                prev = old_rows.get(rel)
                fmt = mode & _S_IFMT  # inline S_ISREG/S_ISDIR: this loop runs per file
                if fmt == _S_IFREG:
                    if (prev is not None and prev[7] and prev[1] == st.st_mtime_ns
                            and prev[2] == st.st_ctime_ns and prev[0] == st.st_size
                            and prev[3] == st.st_ino and prev[4] == mode):
                        rows[rel] = prev
                        matched += 1
                    else:
                        pending.append((rel, de.path, st))
                elif fmt == _S_IFDIR:
                    key = (0, 0, 0, st.st_ino, mode)
                    if prev is not None and prev[:5] == key:
                        rows[rel] = prev
                        matched += 1
                    else:
                        rows[rel] = (*key, DIR, "", True)
                    stack.append((de.path, rel + "/"))
                elif stat.S_ISLNK(mode):
                    target = os.readlink(de.path)
                    key = _key(st)
                    if prev is not None and prev[:5] == key and prev[6] == target:
                        rows[rel] = prev
                        matched += 1
                    else:
                        rows[rel] = (*key, LINK, target, True)
                else:
                    warnings.append(f"skipped special file '{rel}' (not a file, dir or link)")
        progress.advance(0)
    return matched


def _hash_pending(pending: list[tuple[str, str, os.stat_result]], old_rows: dict[str, IndexRow],
                  rows: dict[str, IndexRow], result: ScanResult, store: ObjectStore | None,
                  marker_ns: int, progress: Progress, shared_inodes: bool) -> None:
    progress.start("hashing", sum(st.st_size for _, _, st in pending))

    def work(item: tuple[str, str, os.stat_result]) -> tuple[str, int, os.stat_result] | None:
        rel, path, st = item
        try:
            if store is not None:
                oid, size = store.put_file(Path(path), durable=False)
            else:
                oid, size = hash_path(path), st.st_size
            after = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            return None  # deleted while we scanned: it is simply not in this snapshot
        except OSError as exc:
            raise MlfabricError(f"cannot read '{rel}': {exc.strerror}") from exc
        return oid, size, after

    workers = min(_HASH_WORKERS, len(pending))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # map() re-raises the first worker exception here: none is lost.
        for (rel, _path, st), out in zip(pending, pool.map(work, pending), strict=True):
            if out is None:
                continue
            oid, size, after = out
            # Stable while read and older than the scan's start: trust the stat key next time.
            trusted = _key(after) == _key(st) and max(st.st_mtime_ns, st.st_ctime_ns) < marker_ns
            rows[rel] = (size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode, FILE, oid,
                         trusted)
            result.hashed_files += 1
            result.hashed_bytes += size
            prev = old_rows.get(rel)
            if (store is not None and prev is not None and prev[5] == FILE and prev[6] != oid
                    and (shared_inodes or st.st_nlink > 1)):
                _check_shared_inode(prev, st, rel, store, result, shared_inodes)
            progress.advance(1, size)
    progress.finish()


def _check_shared_inode(prev: IndexRow, st: os.stat_result, rel: str, store: ObjectStore,
                        result: ScanResult, shared_inodes: bool) -> None:
    """A changed file that *is* its old object (a hard link of a link clone) means the
    object itself was rewritten: report it and quarantine it so it is never served."""
    old_oid = prev[6]
    try:
        ost = os.stat(store.path(old_oid))
        same = (ost.st_dev, ost.st_ino) == (st.st_dev, st.st_ino)
    except FileNotFoundError:  # already quarantined (by verify): judge by the inode we linked
        same = shared_inodes and prev[3] == st.st_ino
    if not same:
        return
    if store.quarantine(old_oid):
        result.tampered_objects.append(old_oid)
    result.warnings.append(
        f"'{rel}' was written in place although it shares storage with snapshot "
        f"object {old_oid[:19]}…; that object is quarantined (run 'mlfabric verify')")


def forget_objects(index_dir: Path, bad: set[str]) -> None:
    """Stat index rows must never point at a quarantined object: drop them (the files are
    re-read, and identical bytes found anywhere re-create the object)."""
    for f in index_dir.glob("*.idx"):
        idx = StatIndex.load(f)
        if idx.object_ids() & bad:
            idx.rows = {p: r for p, r in idx.rows.items() if r[6] not in bad}
            idx.manifest_oid = None
            idx.save(f)


def smudge_recent(rows: dict[str, IndexRow], marker_ns: int) -> dict[str, IndexRow]:
    """``smudge`` for rows inserted in the order their files were written: file-system
    timestamps only grow, so only the last rows can be racy; stop at the first old one."""
    for path in reversed(list(rows)):
        r = rows[path]
        if r[5] == DIR:
            continue
        if max(r[1], r[2]) < marker_ns:
            break
        rows[path] = (*r[:7], False)
    return rows


def smudge(rows: dict[str, IndexRow], marker_ns: int) -> dict[str, IndexRow]:
    """Mark rows racily clean (changed at or after ``marker_ns``) as untrusted."""
    return {p: (r if r[5] != FILE or max(r[1], r[2]) < marker_ns else (*r[:7], False))
            for p, r in rows.items()}
