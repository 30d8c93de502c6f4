"""Per-entry loops over large trees, as columns: create many entries (hard link,
directory, symlink) and lstat each (``place``); lstat every entry of a tree (``walk``);
find the rows where two stat columns differ (``differing``).

They run in C (``_fastfs``, built at install time when a compiler is present) without the
GIL, so threads can place disjoint ranges at once; failing that, in Python with the same
results. ``NATIVE`` says which.
"""

from __future__ import annotations

import array
import os
import stat as stat_module

try:
    from mlfabric.storage import _fastfs as _native
except ImportError:  # installed without a C compiler: the loops below do the same
    _native = None
_native_place = _native.place if _native is not None else None

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


def walk_py(root: str) -> tuple[list[bytes], bytes, bytes]:
    """The reference walk (see ``_fastfs.c`` for the contract)."""
    rows: list[tuple[bytes, tuple[int, int, int, int], int]] = []
    stack: list[tuple[bytes, bytes]] = [(os.fsencode(root), b"")]
    while stack:
        dirpath, prefix = stack.pop()
        with os.scandir(dirpath) as it:
            for de in it:
                try:
                    st = de.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we walk: not in this snapshot
                rel = prefix + de.name
                if stat_module.S_ISDIR(st.st_mode):
                    rows.append((rel, (0, 0, 0, st.st_mode), st.st_ino))
                    stack.append((de.path, rel + b"/"))
                else:
                    rows.append((rel, (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode),
                                 st.st_ino))
    rows.sort(key=lambda r: r[0])
    return ([r[0] for r in rows], array.array("q", [v for r in rows for v in r[1]]).tobytes(),
            array.array("Q", [r[2] for r in rows]).tobytes())


def walk(root: str) -> tuple[list[str], array.array, array.array]:
    """Every entry under ``root``, sorted by path: relative paths (text as manifests hold
    it), stats 'q' (size, mtime_ns, ctime_ns, mode per entry; a directory's size and times
    are 0) and inodes 'Q'. Raises OSError naming a directory it cannot read."""
    fn = _native.walk if _native is not None else walk_py
    names, raw_stats, raw_inodes = fn(root)
    stats, inodes = array.array("q"), array.array("Q")
    stats.frombytes(raw_stats)
    inodes.frombytes(raw_inodes)
    return decode_all(names), stats, inodes


def differing(a: array.array, b: array.array, a_inodes: array.array,
              b_inodes: array.array) -> list[int]:
    """The rows ``i`` where ``a[4i:4i+4] != b[4i:4i+4]`` or the inodes differ."""
    if _native is not None:
        return _native.differing(a, b, a_inodes, b_inodes)
    if len(a) != len(b) or len(a_inodes) != len(b_inodes) or len(a) != 4 * len(a_inodes):
        raise ValueError("differing: columns of different lengths")
    if a == b and a_inodes == b_inodes:  # compared in C: the usual no-change case
        return []
    rows_a = zip(a_inodes, a[0::4], a[1::4], a[2::4], a[3::4], strict=True)
    rows_b = zip(b_inodes, b[0::4], b[1::4], b[2::4], b[3::4], strict=True)
    return [i for i, (x, y) in enumerate(zip(rows_a, rows_b, strict=True)) if x != y]


def decode_all(items: list[bytes]) -> list[str]:
    """Decode many file names as manifests hold them (UTF-8, surrogate escapes), in one
    call instead of one per name."""
    return b"\0".join(items).decode("utf-8", "surrogateescape").split("\0") if items else []
