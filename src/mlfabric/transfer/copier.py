"""Copy files between locations on worker threads, each one atomically."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from mlfabric.oids import copy_buffer, new_hash, oid_of_hash
from mlfabric.progress import Progress
from mlfabric.transfer.content import CHUNK
from mlfabric.transfer.listing import Tree, token_of
from mlfabric.transfer.parallel import Outcome, run_parallel
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
        if n != entry.size:
            raise SourceChanged(f"source changed while copying ({entry.size} bytes listed, "
                                f"{n} read); run again")
        info = pending.commit()
    except BaseException:
        pending.abort()
        raise
    if info is None:
        info = dst.fs.info(dst.join(entry.path))
    return JournalRecord(path=entry.path, src_size=entry.size, src_mtime=entry.mtime,
                         dst_size=int(info.get("size") or 0), dst_token=token_of(info),
                         checksum=oid_of_hash(h))


def copy_files(src: Tree, dst: Location, entries: list[Entry], *, job_id: int, workers: int,
               progress: Progress) -> Iterator[Outcome[Entry, JournalRecord]]:
    """Copy ``entries`` with ``workers`` threads; yields every outcome, failures too."""

    def one(entry: Entry) -> JournalRecord:
        result = copy_file(src, dst, entry, job_id=job_id,
                           on_bytes=lambda k: progress.advance(0, k))
        progress.advance(1, 0)
        return result

    return run_parallel(one, entries, workers)
