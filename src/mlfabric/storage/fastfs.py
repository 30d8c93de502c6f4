"""Create many tree entries (hard link, directory, symlink) and lstat each, in one call.

The loop runs in C (``_fastfs``, built at install time when a compiler is present) or,
failing that, in Python with the same results; ``NATIVE`` says which.
"""

from __future__ import annotations

import array
import os

try:
    from mlfabric.storage._fastfs import place as _native_place
except ImportError:  # installed without a C compiler: the loop below does the same
    _native_place = None

NATIVE = _native_place is not None
_MKDIR, _LINK, _SYMLINK = ord("d"), ord("f"), ord("l")


def place_py(ops: bytes, srcs: list[bytes], dsts: list[bytes], start: int, stop: int
             ) -> tuple[int, int, bytes, bytes]:
    """The reference loop (see ``_fastfs.c`` for the contract)."""
    stats, inodes = array.array("q"), array.array("Q")
    for i in range(start, stop):
        op, dst = ops[i], dsts[i]
        try:
            if op == _LINK:
                os.link(srcs[i], dst)
            elif op == _MKDIR:
                os.mkdir(dst, 0o700)
            elif op == _SYMLINK:
                os.symlink(srcs[i], dst)
            else:
                raise ValueError(f"place: unknown op {chr(op)} at {i}")
            st = os.lstat(dst)
        except OSError as exc:
            return i, exc.errno or 0, stats.tobytes(), inodes.tobytes()
        stats.extend((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode))
        inodes.append(st.st_ino)
    return stop, 0, stats.tobytes(), inodes.tobytes()


def place(ops: bytes, srcs: list[bytes], dsts: list[bytes], start: int, stop: int
          ) -> tuple[int, int, array.array, array.array]:
    """Place entries ``start`` to ``stop`` in order, stopping at the first failure.
    Returns (next index, errno or 0, stats 'q' (size, mtime_ns, ctime_ns, mode per entry),
    inodes 'Q') for the entries placed."""
    fn = _native_place if _native_place is not None else place_py
    nxt, err, raw_stats, raw_inodes = fn(ops, srcs, dsts, start, stop)
    stats, inodes = array.array("q"), array.array("Q")
    stats.frombytes(raw_stats)
    inodes.frombytes(raw_inodes)
    return nxt, err, stats, inodes
