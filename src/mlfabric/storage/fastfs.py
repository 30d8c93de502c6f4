"""Create many tree entries (hard link, directory, symlink) and lstat each, in one call.

The loop runs in C (``_fastfs``, built at install time when a compiler is present) without
the GIL, so threads can place disjoint ranges at once; failing that, in Python with the
same results. ``NATIVE`` says which.
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


def place_py(ops: bytes, srcs: list[bytes], dsts: list[bytes], start: int, stop: int,
             stats: array.array, inodes: array.array, kinds: bytes) -> tuple[int, int]:
    """The reference loop (see ``_fastfs.c`` for the contract)."""
    if not (0 <= start <= stop <= len(ops) and len(stats) >= 4 * len(ops)
            and len(inodes) >= len(ops) and len(srcs) >= stop and len(dsts) >= stop):
        raise ValueError("place: range outside ops, srcs, dsts or buffers")
    for i in range(start, stop):
        op, dst = ops[i], dsts[i]
        if op not in kinds:
            continue
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
            return i, exc.errno or 0
        stats[4 * i:4 * i + 4] = array.array(
            "q", (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode))
        inodes[i] = st.st_ino
    return stop, 0


def place(ops: bytes, srcs: list[bytes], dsts: list[bytes], start: int, stop: int,
          stats: array.array, inodes: array.array, kinds: bytes) -> tuple[int, int]:
    """Place the entries ``start`` to ``stop`` whose op is in ``kinds``, in order, stopping
    at the first failure; each one's lstat goes to row ``i`` of ``stats`` ('q': size,
    mtime_ns, ctime_ns, mode) and ``inodes`` ('Q'). Returns (next index, errno or 0)."""
    fn = _native_place if _native_place is not None else place_py
    return fn(ops, srcs, dsts, start, stop, stats, inodes, kinds)
