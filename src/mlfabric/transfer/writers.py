"""Atomic file writes on any destination: readers see the old file or the new one.

- Local folders: write a hidden temporary sibling, set the source's mtime, then
  ``os.replace`` it over the final name. Files are not fsynced one by one: the caller
  flushes the file system once (``syncfs``) before the run counts as done. (Folder to
  folder, ``copier.LocalCopier`` does the same with plain system calls.)
- Other file systems with a rename (memory, HDFS): temporary sibling, then ``mv``.
- Object stores have no rename (a server-side copy would double the cost), so the final
  key is written directly: a single PutObject, or a multipart upload completed by one
  CompleteMultipartUpload, becomes visible whole or not at all. A failed upload is
  aborted; one cut short by a kill stays an invisible incomplete multipart upload
  (an ``AbortIncompleteMultipartUpload`` lifecycle rule reclaims its space). Objects up
  to one part go up in a single PutObject whose answer (the ETag) stands in for a
  HEAD request afterwards.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
from typing import Any, BinaryIO

from mlfabric.transfer.listing import temp_path
from mlfabric.transfer.urls import Location

# Multipart uploads allow 10,000 parts; keep parts small (memory per worker) but large
# enough that the biggest objects still fit.
_MIN_PART = 8 * 2**20
_MAX_PARTS = 9_000


class PendingFile:
    """A file being written; becomes visible on ``commit``, vanishes on ``abort``."""

    file: BinaryIO

    def commit(self) -> dict[str, Any] | None:
        """Make the file visible; may return what is known of it (fsspec info keys)."""
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class _LocalPending(PendingFile):
    def __init__(self, final: str, job_id: int, mtime: float | None,
                 mtime_ns: int | None = None) -> None:
        self.final = final
        self.mtime_ns = mtime_ns if mtime_ns is not None else (
            None if mtime is None else int(mtime * 1_000_000_000))
        os.makedirs(os.path.dirname(final) or ".", exist_ok=True)
        self.tmp = temp_path(final, job_id)
        self.file = open(self.tmp, "xb")  # noqa: SIM115 - closed by commit/abort

    def commit(self) -> dict[str, Any] | None:
        self.file.close()
        if self.mtime_ns is not None:
            os.utime(self.tmp, ns=(self.mtime_ns, self.mtime_ns))
        st = os.stat(self.tmp)
        os.replace(self.tmp, self.final)
        return {"size": st.st_size, "mtime": st.st_mtime}

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


def _drop(f: Any) -> None:
    """Close a writable fsspec file without committing what it buffered."""
    discard = getattr(f, "discard", None)
    if callable(discard):
        with contextlib.suppress(Exception):
            discard()
    if hasattr(f, "closed"):
        with contextlib.suppress(Exception):
            f.closed = True


class _RenamePending(PendingFile):
    def __init__(self, fs: Any, final: str, job_id: int) -> None:
        self.fs, self.final = fs, final
        parent = posixpath.dirname(final)
        if parent:
            fs.makedirs(parent, exist_ok=True)
        self.tmp = temp_path(final, job_id)
        self.file = fs.open(self.tmp, "wb")

    def commit(self) -> dict[str, Any] | None:
        self.file.close()
        self.fs.mv(self.tmp, self.final)
        return None

    def abort(self) -> None:
        _drop(self.file)
        with contextlib.suppress(Exception):
            if self.fs.exists(self.tmp):
                self.fs.rm_file(self.tmp)


class _WholeObjectPending(PendingFile):
    """An object small enough for one PutObject: buffered, then sent in one request."""

    def __init__(self, fs: Any, final: str) -> None:
        self.fs, self.final = fs, final
        self.file = io.BytesIO()

    def commit(self) -> dict[str, Any] | None:
        data = self.file.getvalue()
        self.file.close()
        out = self.fs.pipe_file(self.final, data)
        etag = out.get("ETag") if isinstance(out, dict) else None
        return {"ETag": etag, "size": len(data)} if etag else None

    def abort(self) -> None:
        self.file.close()


class _ObjectPending(PendingFile):
    def __init__(self, fs: Any, final: str, size: int) -> None:
        part = max(_MIN_PART, -(-size // _MAX_PARTS))
        self.file = fs.open(final, "wb", block_size=part)

    def commit(self) -> dict[str, Any] | None:
        self.file.close()
        return None

    def abort(self) -> None:
        _drop(self.file)


def open_pending(dst: Location, rel: str, *, job_id: int, size: int,
                 mtime: float | None, mtime_ns: int | None = None) -> PendingFile:
    """Start writing ``rel`` under ``dst``; nothing is visible before ``commit``."""
    final = dst.join(rel)
    if dst.is_local:
        return _LocalPending(final, job_id, mtime, mtime_ns)
    if dst.is_object_store:
        if size <= _MIN_PART:
            return _WholeObjectPending(dst.fs, final)
        return _ObjectPending(dst.fs, final, size)
    return _RenamePending(dst.fs, final, job_id)


def keeps_mtime(dst: Location) -> bool:
    """Whether files written to ``dst`` carry the source's mtime (else: upload time)."""
    return dst.is_local
