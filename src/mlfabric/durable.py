"""Durable writes: what makes a file or a batch of files survive a crash.

``atomic_write`` (temp file, fsync, rename, fsync of the folder) for whole small files;
``syncfs`` to flush a whole batch at once instead of an fsync per file; ``fsync_dir`` to
make a rename or create inside a folder durable.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from pathlib import Path

_libc: ctypes.CDLL | None = None


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or create inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: str | os.PathLike[str]) -> None:
    """Flush every dirty page of the file system holding ``path`` (``syncfs(2)``): one call
    makes a whole batch of written files durable. It also waits for other dirty data on
    the same file system."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.syncfs(fd) != 0:  # pragma: no cover - fails only for a bad descriptor
            os.sync()
    except AttributeError:  # pragma: no cover - a libc without syncfs
        os.sync()
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def atomic_write(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o644, *,
                 durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so that readers, and a crash, see the old file or
    the whole new one: temp file in the same folder, fsync, rename, fsync of the folder.
    ``durable=False`` skips both fsyncs, for files a crash may lose (caches such as stat
    indexes, status notes): readers still never see half a file."""
    final = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    tmp = final.with_name(f".{final.name}.tmp.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask must not weaken or widen it
            write_all(fd, raw)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(final.parent)
