"""Copy files between locations on worker threads, each one atomically."""

from __future__ import annotations

import contextlib
import os
import posixpath
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from mlfabric.durable import write_all
from mlfabric.oids import copy_buffer, new_hash, oid_of_hash
from mlfabric.progress import Progress
from mlfabric.transfer.content import CHUNK
from mlfabric.transfer.listing import Tree, temp_path, token_of
from mlfabric.transfer.parallel import run_parallel
from mlfabric.transfer.plan import Entry, JournalRecord
from mlfabric.transfer.urls import Location
from mlfabric.transfer.writers import keeps_mtime, open_pending


class SourceChanged(OSError):
    """The source file's size changed while it was being copied."""


class LockedProgress(Progress):
    """Serializes calls from worker threads into one progress sink."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    def start(self, description: str, total: int | None = None) -> None:
        with self._lock:
            self.inner.start(description, total)

    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        with self._lock:
            self.inner.advance(n, nbytes)

    def finish(self) -> None:
        with self._lock:
            self.inner.finish()


def _open_source(src: Tree, rel: str) -> BinaryIO:
    path = src.full_path(rel)
    if src.loc.is_local:
        return open(path, "rb", buffering=0)
    return src.loc.fs.open(path, "rb", block_size=CHUNK)


def _chunks(f: Any, local: bool) -> Iterator[bytes | memoryview]:
    """The file's bytes: local files through this thread's reused buffer, other file
    systems through their own ``read``."""
    if not local:
        while chunk := f.read(CHUNK):
            yield chunk
        return
    buf = copy_buffer()
    view = memoryview(buf)
    while k := f.readinto(buf):
        yield view[:k]


def copy_file(src: Tree, dst: Location, entry: Entry, *, job_id: int,
              on_bytes: Callable[[int], None]) -> JournalRecord:
    """Copy one file; the destination shows the old file or the whole new one."""
    pending = open_pending(dst, entry.path, job_id=job_id, size=entry.size,
                           mtime=entry.mtime if keeps_mtime(dst) else None,
                           mtime_ns=entry.mtime_ns if keeps_mtime(dst) else None)
    h = new_hash()
    n = 0
    try:
        with _open_source(src, entry.path) as f:
            for chunk in _chunks(f, src.loc.is_local):
                pending.file.write(chunk)
                h.update(chunk)
                n += len(chunk)
                on_bytes(len(chunk))
        _check_size(entry, n)
        info = pending.commit()
    except BaseException:
        pending.abort()
        raise
    if info is None:
        info = dst.fs.info(dst.join(entry.path))
    return JournalRecord(path=entry.path, src_size=entry.size, src_mtime=entry.mtime,
                         dst_size=int(info.get("size") or 0), dst_token=token_of(info),
                         checksum=oid_of_hash(h))


def _check_size(entry: Entry, n: int) -> None:
    if n != entry.size:
        raise SourceChanged(f"source changed while copying ({entry.size} bytes listed, "
                            f"{n} read); run again")


class LocalCopier:
    """Folder to folder with plain system calls and no per-file objects: what makes
    copying many small files cost little more than ``cp -a`` does. Same contract as
    ``copy_file``: a temporary sibling carrying the source's mtime, renamed over the
    final name. Nothing is fsynced here: the caller flushes the file system once."""

    def __init__(self, src: Tree, dst: Location, job_id: int) -> None:
        self.src, self.root, self.job_id = src, dst.root or "/", job_id
        self._made: set[str] = set()

    def copy(self, entry: Entry, on_bytes: Callable[[int], None]) -> None:
        final = posixpath.join(self.root, entry.path)
        head = posixpath.dirname(final)
        if head not in self._made:
            os.makedirs(head, exist_ok=True)
            self._made.add(head)
        tmp = temp_path(final, self.job_id)
        fi = os.open(self.src.full_path(entry.path), _READ)
        try:
            fo = os.open(tmp, _CREATE, 0o666)
            try:
                n = _pump(fi, fo, entry.size, on_bytes)
                _check_size(entry, n)
                if entry.mtime_ns is not None:
                    os.utime(fo, ns=(entry.mtime_ns, entry.mtime_ns))
            finally:
                os.close(fo)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        finally:
            os.close(fi)


_SMALL = 2**20  # files below this are read in one call
_READ = os.O_RDONLY | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def _pump(fi: int, fo: int, size: int, on_bytes: Callable[[int], None]) -> int:
    """Copy ``fi`` to ``fo`` until end of file; small files in one read."""
    if size < _SMALL:
        data = os.read(fi, size + 1)
        write_all(fo, data)
        if len(data) <= size:
            on_bytes(len(data))
            return len(data)
        n = len(data)  # grew since it was listed: read on, the caller reports it
    else:
        n = 0
    buf = copy_buffer()
    view = memoryview(buf)
    while k := os.readv(fi, [buf]):
        write_all(fo, view[:k])
        n += k
        on_bytes(k)
    return n


def batches(entries: list[Entry], *, files: int = 64, nbytes: int = 8 * 2**20
            ) -> Iterator[list[Entry]]:
    """``entries`` in groups of up to ``files`` files or about ``nbytes`` bytes: a worker
    takes a group at a time, so thousands of small files are not thousands of tasks."""
    group: list[Entry] = []
    size = 0
    for e in entries:
        if group and (len(group) >= files or size + e.size > nbytes):
            yield group
            group, size = [], 0
        group.append(e)
        size += e.size
    if group:
        yield group


def copy_files(src: Tree, dst: Location, entries: list[Entry], *, job_id: int, workers: int,
               progress: Progress, done: list[JournalRecord] | None
               ) -> Iterator[list[tuple[Entry, BaseException]]]:
    """Copy ``entries`` with ``workers`` threads, a group of files per task. Each worker
    appends what it finished to ``done`` itself (so an interrupt loses none of it;
    ``None`` where nobody keeps records: local to local); yields the failures of each
    group as it finishes (often none)."""
    local = LocalCopier(src, dst, job_id) if src.loc.is_local and dst.is_local \
        and not src.single_file and done is None else None

    def on_bytes(k: int) -> None:
        progress.advance(0, k)

    def group(items: list[Entry]) -> list[tuple[Entry, BaseException]]:
        failed: list[tuple[Entry, BaseException]] = []
        for entry in items:
            try:
                if local is not None:
                    local.copy(entry, on_bytes)
                else:
                    record = copy_file(src, dst, entry, job_id=job_id, on_bytes=on_bytes)
                    if done is not None:
                        done.append(record)
            except Exception as exc:  # reported per file by the caller
                failed.append((entry, exc))
            progress.advance(1, 0)
        return failed

    for out in run_parallel(group, batches(entries), workers):
        if out.error is not None:
            raise out.error
        yield out.value or []
