"""Small file-system primitives the storage engine is built on."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import sys
from pathlib import Path

FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


def try_reflink(src_fd: int, dst_fd: int) -> bool:
    """Clone ``src`` into ``dst`` sharing extents (btrfs, XFS); False where unsupported."""
    try:
        fcntl.ioctl(dst_fd, FICLONE, src_fd)
        return True
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EPERM,
                         errno.ENOSYS):
            return False
        raise


def remove_tree(path: Path) -> None:
    """Delete a directory tree even where read-only bits would stop a non-root user."""

    def _fix_and_retry(func, p, _exc):  # type: ignore[no-untyped-def]
        if isinstance(_exc, tuple):  # onerror passes exc_info
            _exc = _exc[1]
        if isinstance(_exc, FileNotFoundError):
            return
        parent = os.path.dirname(p)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        with contextlib.suppress(FileNotFoundError):
            func(p)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=_fix_and_retry)
        else:
            shutil.rmtree(path, onerror=_fix_and_retry)


def fs_now_ns(tmp_dir: Path) -> int:
    """The file system's idea of "now" (its timestamp granularity included), via a marker file."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    marker = tmp_dir / f"marker-{os.getpid()}-{os.urandom(4).hex()}"
    with open(marker, "wb") as f:
        f.write(b"x")
    try:
        st = os.stat(marker)
        return max(st.st_mtime_ns, st.st_ctime_ns)
    finally:
        marker.unlink(missing_ok=True)


def filesystem_type(path: Path) -> str:
    """The type of the file system holding ``path`` ("btrfs", "ext4", ...) from /proc/mounts."""
    probe = path
    while not probe.exists():
        probe = probe.parent
    real = os.path.realpath(probe)
    best, fstype = "", "unknown"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace("\\040", " ")
                inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best):
                    best, fstype = mnt, parts[2]
    except OSError:
        pass
    return fstype


def own_tree(path: str | os.PathLike[str], uid: int, gid: int) -> int:
    """Make ``path`` and everything below it belong to ``uid``:``gid`` (links changed,
    never followed); returns how many entries changed hands (only those not theirs)."""
    changed = 0
    for root, dirs, files in os.walk(path):
        for name in (".", *dirs, *files):
            p = root if name == "." else os.path.join(root, name)
            st = os.lstat(p)
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.lchown(p, uid, gid)
                changed += 1
    return changed
