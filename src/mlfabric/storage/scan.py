"""Scanning a live tree into a manifest, hashing only files whose stat changed.

The stat index maps path -> (size, mtime_ns, ctime_ns, inode, mode) plus the content id
last seen. A file whose stat key matches its index entry is not read again. Git's
racy-clean rule: an entry whose mtime or ctime is not older than the moment the scan
began (measured on the file system's own clock) may have changed again within the
timestamp granularity, so it is stored untrusted and re-hashed by the next scan.
"""

from __future__ import annotations

import array
import contextlib
import itertools
import marshal
import operator
import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mlfabric.durable import atomic_write
from mlfabric.errors import MlfabricError
from mlfabric.oids import hash_file
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage import fastfs
from mlfabric.storage.bulk import paused_gc
from mlfabric.storage.manifest import (
    DIR,
    FILE,
    HEADER,
    LINK,
    Entry,
    Manifest,
    encode_lines,
    manifest_body,
)
from mlfabric.storage.objects import ObjectStore

# path -> (size, mtime_ns, ctime_ns, ino, mode, kind, ref, trusted)
IndexRow = tuple[int, int, int, int, int, str, str, bool]
_INDEX_VERSION = 2
_HASH_WORKERS = 4
_THREADED_HASH_MIN = 128 * 1024  # mean file size from which hashing runs on threads
_S_IFMT, _S_IFREG, _S_IFDIR = stat.S_IFMT(0o170000), stat.S_IFREG, stat.S_IFDIR


class _Packed:
    """An index as it is stored: column arrays, not 100k tuples. Unmarshalling a dict of
    tuples costs ~75 ms per 100k rows (the nanosecond times are big ints); these columns
    load in a few ms, so a scan that finds nothing changed never builds the tuples."""

    __slots__ = ("_pos", "inodes", "kinds", "lengths", "paths", "refs", "stats", "trusted")

    def __init__(self, paths: list[str], stats: array.array, inodes: array.array,
                 trusted: bytes, kinds: str, refs: list[str],
                 lengths: array.array | None = None) -> None:
        self.paths = paths  # sorted
        self.stats = stats  # 'q': size, mtime_ns, ctime_ns, mode per row
        self.inodes = inodes  # 'Q'
        self.trusted = trusted
        self.kinds = kinds
        self.refs = refs  # object id (file) or link target
        # 'Q': byte length of each row's line in the manifest ``manifest_oid`` (if known),
        # so a snapshot that changed a few files patches the old manifest's bytes.
        self.lengths = lengths
        self._pos: dict[str, int] | None = None

    def key(self, i: int) -> tuple[int, int, int, int, int]:
        """Row ``i``'s stat key, as ``_key`` makes it."""
        s, j = self.stats, 4 * i
        return (s[j], s[j + 1], s[j + 2], self.inodes[i], s[j + 3])

    def row(self, i: int) -> IndexRow:
        return (*self.key(i), self.kinds[i], self.refs[i], bool(self.trusted[i]))

    def totals(self) -> tuple[int, int]:
        sizes = self.stats[::4]
        files = [i for i, k in enumerate(self.kinds) if k == FILE]
        return len(files), sum(sizes[i] for i in files)

    @classmethod
    def of(cls, rows: dict[str, IndexRow]) -> _Packed:
        with paused_gc():  # map + itemgetter: the loops run in C
            paths = sorted(rows)
            rs = list(map(rows.__getitem__, paths))
            stats = array.array("q", itertools.chain.from_iterable(
                map(operator.itemgetter(0, 1, 2, 4), rs)))
            return cls(paths, stats, array.array("Q", map(operator.itemgetter(3), rs)),
                       bytes(map(operator.itemgetter(7), rs)),
                       "".join(map(operator.itemgetter(5), rs)),
                       list(map(operator.itemgetter(6), rs)))

    @property
    def pos(self) -> dict[str, int]:
        if self._pos is None:
            self._pos = dict(zip(self.paths, range(len(self.paths)), strict=True))
        return self._pos

    def rows(self) -> dict[str, IndexRow]:
        s, ino, t, k = self.stats, self.inodes, self.trusted, self.kinds
        with paused_gc():
            return {p: (s[4 * i], s[4 * i + 1], s[4 * i + 2], ino[i], s[4 * i + 3], k[i], ref,
                        bool(t[i]))
                    for i, (p, ref) in enumerate(zip(self.paths, self.refs, strict=True))}

    def to_doc(self) -> dict[str, object]:
        return {"paths": self.paths, "stats": self.stats.tobytes(),
                "inodes": self.inodes.tobytes(), "trusted": self.trusted, "kinds": self.kinds,
                "refs": self.refs,
                "lengths": self.lengths.tobytes() if self.lengths is not None else None}

    @classmethod
    def from_doc(cls, doc: dict[str, object]) -> _Packed:
        stats, inodes = array.array("q"), array.array("Q")
        stats.frombytes(doc["stats"])  # type: ignore[arg-type]
        inodes.frombytes(doc["inodes"])  # type: ignore[arg-type]
        paths, trusted, kinds, refs = doc["paths"], doc["trusted"], doc["kinds"], doc["refs"]
        lengths = None
        if doc.get("lengths") is not None:
            lengths = array.array("Q")
            lengths.frombytes(doc["lengths"])  # type: ignore[arg-type]
        n = len(paths)  # type: ignore[arg-type]
        if not (len(stats) == 4 * n and n == len(inodes) == len(trusted)  # type: ignore[arg-type]
                and n == len(kinds) == len(refs)  # type: ignore[arg-type]
                and (lengths is None or len(lengths) == n)):
            raise ValueError("index columns disagree")
        return cls(paths, stats, inodes, trusted, kinds, refs, lengths)  # type: ignore[arg-type]

    def patched(self, rows: dict[int, IndexRow], lengths: dict[int, int]) -> _Packed:
        """A copy with some rows (and their manifest line lengths) replaced; same paths,
        same kinds."""
        stats, inodes = array.array("q", self.stats), array.array("Q", self.inodes)
        trusted, refs = bytearray(self.trusted), list(self.refs)
        for i, r in rows.items():
            stats[4 * i:4 * i + 4] = array.array("q", (r[0], r[1], r[2], r[4]))
            inodes[i], trusted[i], refs[i] = r[3], r[7], r[6]
        new_lengths = None
        if self.lengths is not None:
            new_lengths = array.array("Q", self.lengths)
            for i, n in lengths.items():
                new_lengths[i] = n
        return _Packed(self.paths, stats, inodes, bytes(trusted), self.kinds, refs, new_lengths)


class StatIndex:
    """The per-volume stat cache; ``manifest_oid`` is the manifest the rows describe exactly.
    Rows are built from the stored columns only when something needs them."""

    def __init__(self, rows: dict[str, IndexRow] | None = None, manifest_oid: str | None = None,
                 files: int | None = None, nbytes: int | None = None, *,
                 packed: _Packed | None = None,
                 patch: tuple[str, array.array, dict[int, bytes]] | None = None) -> None:
        self._rows = rows if rows is not None or packed is not None else {}
        self._packed = packed
        # (manifest it derives from, that manifest's line lengths, new lines by row)
        self._patch = patch
        self.manifest_oid = manifest_oid
        # Totals of the manifest, kept so an unchanged snapshot needs no pass over the rows.
        self.files = files
        self.bytes = nbytes

    @classmethod
    def of_columns(cls, paths: list[str], stats: array.array, inodes: array.array,
                   kinds: str, refs: list[str], lengths: array.array, *, marker_ns: int
                   ) -> StatIndex:
        """An index from columns (``_Packed``'s layout) of entries just written; rows
        changed at or after ``marker_ns`` (racily clean) are untrusted. The entries may
        have been written in any order (several threads), so every row is checked."""
        trusted = bytearray(b"\x01") * len(paths)
        for i, (mtime, ctime) in enumerate(zip(stats[1::4], stats[2::4], strict=True)):
            if (mtime >= marker_ns or ctime >= marker_ns) and kinds[i] != DIR:
                trusted[i] = 0
        return cls(None, packed=_Packed(paths, stats, inodes, bytes(trusted), kinds, refs,
                                        lengths))

    @property
    def rows(self) -> dict[str, IndexRow]:
        if self._rows is None:
            assert self._packed is not None
            self._rows = self._packed.rows()
        return self._rows

    @rows.setter
    def rows(self, rows: dict[str, IndexRow]) -> None:
        self._rows, self._packed, self._patch = rows, None, None

    def packed(self) -> _Packed:
        if self._packed is None:
            self._packed = _Packed.of(self.rows)
        return self._packed

    def totals(self) -> tuple[int, int]:
        """(files, bytes) of regular files."""
        if self.files is None or self.bytes is None:
            if self._rows is None:
                self.files, self.bytes = self.packed().totals()
            else:
                sizes = [r[0] for r in self._rows.values() if r[5] == FILE]
                self.files, self.bytes = len(sizes), sum(sizes)
        return self.files, self.bytes

    def manifest_bytes(self, read: Callable[[str], bytes] | None = None) -> bytes:
        """The serialized manifest. After a scan that changed only some files' content,
        ``read`` (an object reader) fetches the previous manifest and only the changed
        lines are new; otherwise it is built from every row."""
        if self._patch is not None and read is not None:
            data = self._patched_manifest(read, *self._patch)
            if data is not None:
                return data
        pk = self.packed()
        with paused_gc():
            rows = self.rows
            lines = encode_lines((p, r[5], r[6], r[4], r[0], r[1] if r[5] != DIR else 0)
                                 for p, r in ((p, rows[p]) for p in pk.paths))
            pk.lengths = array.array("Q", map(len, lines))
            return HEADER + b"".join(lines)

    @staticmethod
    def _patched_manifest(read: Callable[[str], bytes], base_oid: str,
                          base_lengths: array.array, lines: dict[int, bytes]) -> bytes | None:
        try:
            body = manifest_body(read(base_oid))
        except (OSError, MlfabricError):
            return None  # gone or damaged: build from the rows instead
        offsets = [0, *itertools.accumulate(base_lengths)]
        if body is None or offsets[-1] != len(body):
            return None
        parts, cursor = [HEADER], 0
        for i in sorted(lines):
            parts += (body[cursor:offsets[i]], lines[i])
            cursor = offsets[i + 1]
        parts.append(body[cursor:])
        return b"".join(parts)

    @classmethod
    def load(cls, path: Path) -> StatIndex:
        """Load an index; a missing or unreadable one is empty (it only costs re-hashing)."""
        try:
            data = path.read_bytes()  # marshal.load(file) reads object by object: slow
            with paused_gc():
                doc = marshal.loads(data)
            if doc.get("version") != _INDEX_VERSION:
                return cls()
            return cls(None, doc.get("manifest_oid"), doc.get("files"), doc.get("bytes"),
                       packed=_Packed.from_doc(doc))
        except (OSError, EOFError, ValueError, TypeError, KeyError):
            return cls()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        files, nbytes = self.totals()
        data = marshal.dumps({"version": _INDEX_VERSION, **self.packed().to_doc(),
                              "manifest_oid": self.manifest_oid, "files": files,
                              "bytes": nbytes})
        atomic_write(path, data, durable=False)  # a cache: lost, it is rebuilt by a scan

    def object_ids(self) -> set[str]:
        if self._rows is None:
            pk = self.packed()
            ids = {ref for kind, ref in zip(pk.kinds, pk.refs, strict=True) if kind == FILE}
        else:
            ids = {r[6] for r in self._rows.values() if r[5] == FILE}
        if self.manifest_oid:
            ids.add(self.manifest_oid)
        return ids

    def manifest(self) -> Manifest:
        rows = self.rows
        with paused_gc():
            return Manifest({p: Entry(p, r[5], r[6], r[4], r[0], r[1] if r[5] != DIR else 0)
                             for p, r in rows.items()})


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


@dataclass
class _Walk:
    """What a walk found: old rows that still match (by path), entries to hash, and new
    rows for directories and links that did not match."""

    matched: list[int] = field(default_factory=list)  # rows of the old index
    pending: list[tuple[str, str, os.stat_result]] = field(default_factory=list)
    fresh: dict[str, IndexRow] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def scan_tree(root: Path, old: StatIndex, *, marker_ns: int, store: ObjectStore | None,
              progress: Progress = NO_PROGRESS, shared_inodes: bool = False) -> ScanResult:
    """Walk ``root``; reuse index rows whose stat key matches, hash (and, with ``store``,
    store) the rest. Returns the new index; ``unchanged`` means it equals ``old`` exactly.
    ``shared_inodes``: the tree hard-links store objects (a link clone), so a file changed
    without being replaced (same inode) was written in place through shared storage."""
    packed = old.packed()
    progress.start("scanning", None)
    with paused_gc():
        walk = _walk(root, packed, progress)
    progress.finish()

    if (not walk.pending and not walk.fresh and len(walk.matched) == len(packed.paths)
            and old.manifest_oid is not None):
        # Nothing changed: the old index is the answer, and its rows are never built.
        return ScanResult(old, unchanged=True, warnings=walk.warnings)
    pos = packed.pos

    def prev_of(rel: str) -> IndexRow | None:
        i = pos.get(rel)
        return packed.row(i) if i is not None else None

    result = ScanResult(StatIndex(), unchanged=False, warnings=walk.warnings)
    hashed = _hash_pending(walk.pending, prev_of, result, store, marker_ns, progress,
                           shared_inodes) if walk.pending else []
    if walk.pending and store is not None:
        store.sync()  # one flush for the batch, before anything can refer to it
    same_paths = (not walk.fresh and len(hashed) == len(walk.pending)
                  and len(walk.matched) + len(hashed) == len(packed.paths)
                  and all(rel in pos and packed.kinds[pos[rel]] == FILE for rel, _ in hashed))
    if same_paths and old.manifest_oid is not None and packed.lengths is not None:
        # Only contents changed (the usual case): patch the columns and the old manifest.
        changed = {pos[rel]: row for rel, row in hashed}
        lines = dict(zip(changed, encode_lines((rel, FILE, r[6], r[4], r[0], r[1])
                                               for rel, r in hashed), strict=True))
        files, nbytes = old.totals()
        nbytes += sum(r[0] - packed.stats[4 * pos[rel]] for rel, r in hashed)
        index = StatIndex(None, None, files, nbytes,
                          packed=packed.patched(changed, {i: len(b) for i, b in lines.items()}),
                          patch=(old.manifest_oid, packed.lengths, lines))
    else:
        old_rows = old.rows
        paths = packed.paths
        with paused_gc():
            rows = {paths[i]: old_rows[paths[i]] for i in walk.matched}
        rows.update(walk.fresh)
        rows.update(hashed)
        index = StatIndex(rows)
    result.index = index
    return result


def _walk(root: Path, old: _Packed, progress: Progress) -> _Walk:
    """Sort every entry under ``root`` into matched (its stat key equals the trusted old
    row), pending (a file to hash) or fresh (a directory or link row to record anew).
    The walk returns columns sorted like the index; when the paths are the old ones (the
    usual case) the stat columns are compared in bulk and only differing, untrusted and
    symlink rows are looked at one by one."""
    try:
        paths, stats, inodes = fastfs.walk(str(root))
    except OSError as exc:
        name = os.fsdecode(exc.filename) if exc.filename is not None else str(root)
        raise MlfabricError(f"cannot read directory '{name}': {exc.strerror}") from exc
    progress.advance(0)
    out = _Walk()
    n = len(paths)
    if paths == old.paths:
        look = set(fastfs.differing(stats, old.stats, inodes, old.inodes))
        look.update(_positions(old.trusted, 0), _positions(old.kinds, LINK))
        todo = [(k, k) for k in sorted(look)]
        out.matched = _all_but(n, todo)
    else:
        todo = list(enumerate(map(old.pos.get, paths)))
    _classify(root, paths, stats, inodes, todo, old, out)
    return out


def _positions(seq: bytes | str, item: int | str) -> list[int]:
    """Where ``item`` occurs in ``seq`` (found by the C-level ``find``)."""
    found, i = [], seq.find(item)  # type: ignore[arg-type]
    while i >= 0:
        found.append(i)
        i = seq.find(item, i + 1)  # type: ignore[arg-type]
    return found


def _all_but(n: int, skip: list[tuple[int, int | None]]) -> list[int]:
    """``range(n)`` without the (sorted) first items of ``skip``."""
    out: list[int] = []
    start = 0
    for k, _ in skip:
        out.extend(range(start, k))
        start = k + 1
    out.extend(range(start, n))
    return out


def _classify(root: Path, paths: list[str], stats: array.array, inodes: array.array,
              todo: list[tuple[int, int | None]], old: _Packed, out: _Walk) -> None:
    """Entry ``k`` of the walk against row ``i`` of the old index (None: a new path)."""
    match, pending, fresh = out.matched.append, out.pending, out.fresh
    ostats, oinodes, trusted, refs = old.stats, old.inodes, old.trusted, old.refs
    base = str(root) + "/"
    for k, i in todo:
        rel, j = paths[k], 4 * k
        mode, ino = stats[j + 3], inodes[k]
        key = (stats[j], stats[j + 1], stats[j + 2], ino, mode)
        fmt = mode & _S_IFMT
        if fmt == _S_IFREG:
            # mode carries the file type: a path that changed kind never matches.
            if i is not None and trusted[i] and key == old.key(i):
                match(i)
                continue
            try:
                pending.append((rel, base + rel, os.lstat(base + rel)))
            except FileNotFoundError:
                continue  # deleted while we scanned: not in this snapshot
        elif fmt == _S_IFDIR:
            if i is not None and oinodes[i] == ino and ostats[4 * i + 3] == mode:
                match(i)
            else:
                fresh[rel] = (0, 0, 0, ino, mode, DIR, "", True)
        elif stat.S_ISLNK(mode):
            try:
                target = os.readlink(base + rel)
            except FileNotFoundError:
                continue
            if i is not None and refs[i] == target and key == old.key(i):
                match(i)
            else:
                fresh[rel] = (*key, LINK, target, True)
        else:
            out.warnings.append(f"skipped special file '{rel}' (not a file, dir or link)")


def _hash_pending(pending: list[tuple[str, str, os.stat_result]],
                  prev_of: Callable[[str], IndexRow | None], result: ScanResult,
                  store: ObjectStore | None, marker_ns: int, progress: Progress,
                  shared_inodes: bool) -> list[tuple[str, IndexRow]]:
    """Hash (and store) each pending file; returns the new rows, in ``pending`` order,
    leaving out files deleted meanwhile."""
    total = sum(st.st_size for _, _, st in pending)
    progress.start("hashing", total)

    def work(item: tuple[str, str, os.stat_result]) -> tuple[str, int, os.stat_result] | None:
        rel, path, st = item
        try:
            if store is not None:
                oid, size = store.put_file(path, durable=False)
            else:
                oid, size = hash_file(path), st.st_size
            after = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            return None  # deleted while we scanned: it is simply not in this snapshot
        except OSError as exc:
            raise MlfabricError(f"cannot read '{rel}': {exc.strerror}") from exc
        return oid, size, after

    rows: list[tuple[str, IndexRow]] = []
    # Threads pay off only for big files (hashlib releases the GIL on large buffers): for
    # small ones the handoffs cost more than the work (1,000 4 KiB files: 0.3 s on four
    # threads, 0.07 s on the calling thread).
    with contextlib.ExitStack() as stack:
        if total < _THREADED_HASH_MIN * len(pending):
            outs = map(work, pending)
        else:
            pool = stack.enter_context(
                ThreadPoolExecutor(max_workers=min(_HASH_WORKERS, len(pending))))
            outs = pool.map(work, pending)  # re-raises the first worker exception here
        for (rel, _path, st), out in zip(pending, outs, strict=True):
            if out is None:
                continue
            oid, size, after = out
            # Stable while read and older than the scan's start: trust the stat key next time.
            trusted = _key(after) == _key(st) and max(st.st_mtime_ns, st.st_ctime_ns) < marker_ns
            rows.append((rel, (size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode,
                               FILE, oid, trusted)))
            result.hashed_files += 1
            result.hashed_bytes += size
            if store is not None and (shared_inodes or st.st_nlink > 1):
                prev = prev_of(rel)
                if prev is not None and prev[5] == FILE and prev[6] != oid:
                    _check_shared_inode(prev, st, rel, store, result, shared_inodes)
            progress.advance(1, size)
    progress.finish()
    return rows


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
