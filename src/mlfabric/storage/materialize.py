"""Bring a directory tree to the state of a manifest: plan (pure), then apply.

Used by restore (update a live tree in place, each file via temp name + rename) and by
clone (fill a fresh staging tree). Bytes come from the object store: copied while
hashed, reflinked, or hard-linked (read-only clones only). A damaged object is never
served: the apply fails naming the affected files.
"""

from __future__ import annotations

import array
import contextlib
import errno
import itertools
import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mlfabric.durable import write_all
from mlfabric.errors import CorruptData, InvalidInput
from mlfabric.oids import copy_buffer, new_hash, oid_of_hash
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage import fastfs
from mlfabric.storage.bulk import paused_gc
from mlfabric.storage.fsops import remove_tree, try_reflink
from mlfabric.storage.manifest import DIR, FILE, LINK, Entry, Manifest
from mlfabric.storage.objects import ObjectStore
from mlfabric.storage.scan import IndexRow, StatIndex

MODES = ("auto", "reflink", "copy", "link")
_PLACE_BATCH = 8192  # entries per native call: the progress bar moves between calls
_LINK_THREADS = min(4, os.cpu_count() or 1)
_FILE_OP, _DIR_OP, _LINK_OP = ord(FILE), ord(DIR), ord(LINK)


@dataclass
class TreePlan:
    """What to change, in the order it is applied."""

    remove: list[str] = field(default_factory=list)      # deepest first
    mkdirs: list[Entry] = field(default_factory=list)    # shallowest first
    write: list[Entry] = field(default_factory=list)     # files and symlinks
    fix_meta: list[Entry] = field(default_factory=list)  # same content, mode or mtime differs
    dir_modes: list[Entry] = field(default_factory=list)  # deepest first, applied last

    @property
    def write_bytes(self) -> int:
        return sum(e.size for e in self.write if e.kind == FILE)


def plan_tree(current: Manifest, target: Manifest) -> TreePlan:
    """The changes that turn ``current`` into ``target`` (no I/O)."""
    plan = TreePlan()
    cur, tgt = current.entries, target.entries
    for path in sorted(cur, reverse=True):
        t = tgt.get(path)
        if t is None or t.kind != cur[path].kind:
            plan.remove.append(path)
    for path in sorted(tgt):
        t = tgt[path]
        c = cur.get(path)
        same_kind = c is not None and c.kind == t.kind
        if t.kind == DIR:
            if not same_kind:
                plan.mkdirs.append(t)
            plan.dir_modes.append(t)
        elif not same_kind or c.ref != t.ref:
            plan.write.append(t)
        elif t.kind == FILE and (c.mode != t.mode or c.mtime_ns != t.mtime_ns):
            plan.fix_meta.append(t)
    # Removing a directory removes its children: drop the redundant child entries.
    removed_dirs = {p for p in plan.remove if cur[p].kind == DIR}
    plan.remove = [p for p in plan.remove
                   if not any(p.startswith(d + "/") for d in removed_dirs)]
    plan.dir_modes.sort(key=lambda e: e.path, reverse=True)
    return plan


def check_objects(store: ObjectStore, entries: list[Entry]) -> None:
    """Fail before touching anything if an object is missing or visibly altered."""
    bad = [e for e in entries if e.kind == FILE and not store.looks_intact(e.ref, e.size)]
    if bad:
        names = ", ".join(e.path for e in bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise CorruptData(
            f"snapshot data is damaged or missing for {len(bad)} file(s): {names} "
            "(run 'mlfabric verify')", paths=[e.path for e in bad],
            objects=sorted({e.ref for e in bad}))


class _Writer:
    def __init__(self, store: ObjectStore, mode: str) -> None:
        if mode not in MODES:
            raise InvalidInput(f"invalid mode '{mode}': expected one of {', '.join(MODES)}",
                               field="mode", value=mode)
        self.store = store
        self.mode = mode
        self.reflink_ok: bool | None = None if mode == "auto" else (mode == "reflink")
        self.damaged: list[Entry] = []

    def write_file(self, e: Entry, dest: str) -> os.stat_result | None:
        """Create ``dest`` with the bytes of ``e``; returns its stat (None if damaged)."""
        src = self.store.path_str(e.ref)
        if self.mode == "link":
            try:
                os.link(src, dest)
            except FileNotFoundError:
                self.damaged.append(e)
                return None
            st = os.lstat(dest)
            # The link *is* the object: its size and zero mtime prove nobody wrote to it.
            if st.st_size != e.size or st.st_mtime_ns != 0:
                self.damaged.append(e)
                return None
            return st
        with open(src, "rb") as fsrc:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                if self.reflink_ok is not False and try_reflink(fsrc.fileno(), fd):
                    self.reflink_ok = True
                else:
                    if self.mode == "reflink":
                        raise InvalidInput(
                            "--mode reflink: this file system does not support reflinks "
                            "(use --mode auto or copy)", field="mode")
                    self.reflink_ok = False
                    if not self._copy_verified(e, fsrc, fd):
                        return None
            finally:
                os.close(fd)
        os.chmod(dest, stat.S_IMODE(e.mode))
        os.utime(dest, ns=(e.mtime_ns, e.mtime_ns))
        return os.lstat(dest)

    def _copy_verified(self, e: Entry, fsrc, fd: int) -> bool:  # type: ignore[no-untyped-def]
        h = new_hash()
        buf = copy_buffer()
        view = memoryview(buf)
        while n := fsrc.readinto(buf):
            h.update(view[:n])
            write_all(fd, view[:n])
        if oid_of_hash(h) != e.ref:
            self.damaged.append(e)
            return False
        return True


def _place(e: Entry, dest: str, writer: _Writer, tmp_dir: str | None) -> os.stat_result | None:
    """Create ``dest`` (file or symlink) from ``e``; via a temp name when replacing."""
    if tmp_dir is None:
        if e.kind == LINK:
            os.symlink(e.ref, dest)
            return os.lstat(dest)
        return writer.write_file(e, dest)
    target = f"{tmp_dir}/m-{os.getpid()}-{os.urandom(6).hex()}"
    try:
        if e.kind == LINK:
            os.symlink(e.ref, target)
        elif writer.write_file(e, target) is None:
            os.unlink(target)
            return None
        if os.path.isdir(dest) and not os.path.islink(dest):
            remove_tree(Path(dest))
        os.replace(target, dest)
        return os.lstat(dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        raise


def _reject_damaged(store: ObjectStore, base: str, bad: list[tuple[str, str]]) -> None:
    """Quarantine the objects of files found damaged while placing them, remove those
    files, and fail naming them."""
    for path, ref in bad:
        store.quarantine(ref)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{base}/{path}")
    raise CorruptData(
        f"snapshot data is damaged for {len(bad)} file(s): "
        f"{', '.join(p for p, _ in bad[:10])}; the damaged objects were quarantined",
        paths=[p for p, _ in bad], objects=[r for _, r in bad])


def apply_tree(root: Path, plan: TreePlan, store: ObjectStore, *, mode: str = "auto",
               tmp_dir: Path | None = None, progress: Progress = NO_PROGRESS
               ) -> dict[str, IndexRow]:
    """Apply ``plan`` under ``root``. ``tmp_dir`` (same file system) makes each replacement
    atomic; without it files are created directly (a fresh staging tree). Returns stat
    index rows for every path written or fixed, so the next snapshot need not re-read them."""
    writer = _Writer(store, mode)
    if mode != "link" or tmp_dir is not None:
        # Fail before touching anything; link mode checks each link it makes instead.
        check_objects(store, plan.write)
    rows: dict[str, IndexRow] = {}
    base = str(root)
    tmp = None if tmp_dir is None else str(tmp_dir)
    progress.start("writing", plan.write_bytes)
    with paused_gc():
        for path in plan.remove:
            remove_tree(root / path)
        for e in plan.mkdirs:
            os.mkdir(f"{base}/{e.path}", 0o700)
        for e in plan.write:
            st = _place(e, f"{base}/{e.path}", writer, tmp)
            if st is None:
                continue
            rows[e.path] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode,
                            e.kind, e.ref, True)
            progress.advance(1, e.size if e.kind == FILE else 0)
    if writer.damaged:
        _reject_damaged(store, base, [(e.path, e.ref) for e in writer.damaged])
    for e in plan.fix_meta:
        dest = f"{base}/{e.path}"
        if mode != "link":
            os.chmod(dest, stat.S_IMODE(e.mode))
            os.utime(dest, ns=(e.mtime_ns, e.mtime_ns))
        st = os.lstat(dest)
        rows[e.path] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode,
                        e.kind, e.ref, True)
    for e in plan.dir_modes:
        dest = f"{base}/{e.path}"
        os.chmod(dest, stat.S_IMODE(e.mode))
        st = os.lstat(dest)
        rows[e.path] = (0, 0, 0, st.st_ino, st.st_mode, DIR, "", True)
    progress.finish()
    return rows


def link_tree(root: Path, body: bytes, store: ObjectStore, *, marker: Callable[[], int],
              progress: Progress = NO_PROGRESS) -> StatIndex:
    """Fill the fresh directory ``root`` as a read-only (``--mode link``) clone of the
    format-2 manifest ``body``: directories, symlinks, and every file a hard link to its
    object. ``apply_tree`` does the same entry by entry; this works on the manifest's
    columns and makes the per-entry system calls in native loops (``fastfs.place``) on
    a few threads, since for a link clone the interpreter's per-entry work cost as much
    as the links. Returns the clone's stat index, rows changed at or after ``marker()``
    untrusted."""
    fields = body.split(b"\0")
    if fields.pop() != b"" or len(fields) % 6:
        raise CorruptData("manifest is unreadable: truncated")
    kinds, refs, modes, sizes, paths = (fields[0::6], fields[1::6], fields[2::6],
                                        fields[3::6], fields[5::6])
    ops = b"".join(kinds)
    if len(ops) != len(kinds) or ops.translate(None, b"fdl"):
        raise CorruptData("manifest is unreadable: unknown entry kind")
    # The manifest was read through its hash, so its object ids are the scanner's; one
    # that names no object fails its link with ENOENT and is reported as missing.
    fan, base = os.fsencode(store.root) + b"/", os.fsencode(root) + b"/"
    srcs = [fan + r[7:9] + b"/" + r[9:] if k == b"f" else r
            for k, r in zip(kinds, refs, strict=True)]
    dsts = [base + p for p in paths]
    want = array.array("q", map(int, sizes))
    progress.start("linking", sum(want))
    with paused_gc():
        stats, inodes, missing = _place_all(ops, srcs, dsts, want, progress)
        _settle_rows(ops, modes, dsts, stats, inodes)
        text = fastfs.decode_all(paths)
        bad = _damaged_links(ops, stats, want, missing)
        if bad:
            _reject_damaged(store, str(root), [(text[j], refs[j].decode()) for j in bad])
        lengths = array.array("Q", map(sum, zip(*(map(len, fields[c::6]) for c in range(6)),
                                                itertools.repeat(6))))
        index = StatIndex.of_columns(text, stats, inodes, ops.decode(),
                                     fastfs.decode_all(refs), lengths, marker_ns=marker())
        index.files = ops.count(_FILE_OP)
        index.bytes = sum(want) - sum(want[j] for j, k in enumerate(ops) if k == _LINK_OP)
    progress.finish()
    return index


def _place_all(ops: bytes, srcs: list[bytes], dsts: list[bytes], want: array.array,
               progress: Progress) -> tuple[array.array, array.array, list[int]]:
    """Make every entry: directories first (parents before children), then files and
    symlinks in ranges on a few threads. Returns the stat and inode columns and the files
    whose object is missing."""
    n = len(ops)
    stats, inodes = array.array("q", bytes(32 * n)), array.array("Q", bytes(8 * n))

    def place(start: int, stop: int, what: bytes) -> list[int]:
        missing = []
        while True:
            nxt, err = fastfs.place(ops, srcs, dsts, start, stop, stats, inodes, what)
            if not err:
                return missing
            if err != errno.ENOENT or ops[nxt] != _FILE_OP:
                raise OSError(err, os.strerror(err), os.fsdecode(dsts[nxt]))
            missing.append(nxt)
            start = nxt + 1

    place(0, n, b"d")
    ranges = [(a, min(n, a + _PLACE_BATCH)) for a in range(0, n, _PLACE_BATCH)]
    missing: list[int] = []
    # Links into different directories scale across cores (the native loop runs without
    # the GIL); the Python loop would only contend for it.
    with ThreadPoolExecutor(_LINK_THREADS if fastfs.NATIVE else 1) as pool:
        for (a, b), lost in zip(ranges, pool.map(lambda r: place(*r, b"fl"), ranges),
                                strict=True):
            missing += lost
            progress.advance(b - a, sum(want[a:b]))
    return stats, inodes, missing


def _settle_rows(ops: bytes, modes: list[bytes], dsts: list[bytes], stats: array.array,
                 inodes: array.array) -> None:
    """Give directories their modes (deepest first) and rows as the index keeps them;
    give every path of an object linked more than once the object's final ctime (each
    link changed it; the latest one seen is the final one)."""
    for j in reversed([j for j, k in enumerate(ops) if k == _DIR_OP]):
        perm = stat.S_IMODE(int(modes[j], 8))
        os.chmod(dsts[j], perm)
        stats[4 * j:4 * j + 4] = array.array("q", (0, 0, 0, stat.S_IFDIR | perm))
    if len(set(inodes)) < len(inodes):
        final: dict[int, int] = {}
        for j, ino in enumerate(inodes):
            final[ino] = max(final.get(ino, 0), stats[4 * j + 2])
        for j, ino in enumerate(inodes):
            stats[4 * j + 2] = final[ino]


def _damaged_links(ops: bytes, stats: array.array, want: array.array,
                   missing: list[int]) -> list[int]:
    """The files whose object is missing or was written: a link *is* its object, so its
    size and zero mtime prove nobody wrote to it (directories have both zero by now,
    symlinks the size of their target)."""
    bad = {*missing, *(j for j, m in enumerate(stats[1::4]) if m and ops[j] == _FILE_OP)}
    if stats[0::4] != want:
        bad.update(j for j, (a, b) in enumerate(zip(stats[0::4], want, strict=True)) if a != b)
    return sorted(bad)
