"""``transfer verify``: is every source file at the destination, and the same?

``size`` (default) compares presence and sizes from the listings; ``checksum`` hashes
both sides; ``bytes`` reads both sides and compares them byte by byte. Files only the
destination has are listed as ``extra`` and fail the check, as in ``rclone check``,
unless ``one_way``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from mlfabric.errors import InvalidInput
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.transfer.content import hash_file, same_bytes
from mlfabric.transfer.copier import LockedProgress
from mlfabric.transfer.listing import list_tree
from mlfabric.transfer.parallel import MAX_WORKERS, run_parallel
from mlfabric.transfer.records import Mismatch, VerifyResult
from mlfabric.transfer.sync import DEFAULT_WORKERS
from mlfabric.transfer.urls import (
    DEFAULT_TIMEOUT,
    describe,
    open_pair,
    probe_destination,
    probe_source,
)

VerifyMode = Literal["size", "checksum", "bytes"]
MODES = ("size", "checksum", "bytes")


def verify(src: str, dst: str, *, mode: VerifyMode = "size", one_way: bool = False,
           workers: int = DEFAULT_WORKERS, endpoint_url: str | None = None,
           options: Sequence[str] | Mapping[str, Any] | None = None,
           timeout: float = DEFAULT_TIMEOUT, progress: Progress = NO_PROGRESS) -> VerifyResult:
    """Compare ``dst`` against ``src`` without changing either; files only ``dst`` has
    are differences too, unless ``one_way``."""
    t0 = time.monotonic()
    if mode not in MODES:
        raise InvalidInput(f"invalid verify mode '{mode}': expected one of {', '.join(MODES)}",
                           field="mode")
    if not 1 <= workers <= MAX_WORKERS:
        raise InvalidInput(f"invalid workers {workers}: expected 1 to {MAX_WORKERS}",
                           field="workers")
    progress = LockedProgress(progress)
    a, b = open_pair(src, dst, endpoint_url=endpoint_url, options=options, timeout=timeout)
    single = probe_source(a)
    probe_destination(b)
    progress.start(f"listing {a.display()}")
    src_tree = list_tree(a, single_file=single, progress=progress)
    progress.start(f"listing {b.display()}")
    dst_tree = list_tree(b, progress=progress)
    progress.finish()

    mismatches: list[Mismatch] = []
    same_size: list[str] = []
    for path, s in sorted(src_tree.entries.items()):
        d = dst_tree.entries.get(path)
        if d is None:
            mismatches.append(Mismatch(path, "missing"))
        elif d.size != s.size:
            mismatches.append(Mismatch(path, f"size differs ({s.size} != {d.size} bytes)"))
        else:
            same_size.append(path)

    if mode != "size" and same_size:
        total = sum(src_tree.entries[p].size for p in same_size)
        progress.start(f"comparing {len(same_size)} files ({mode})", total)

        def on_bytes(k: int) -> None:
            progress.advance(0, k)

        def equal(path: str) -> bool:
            fa, fb = src_tree.full_path(path), dst_tree.full_path(path)
            if mode == "bytes":
                result = same_bytes(a.fs, fa, b.fs, fb, on_bytes)
            else:
                result = hash_file(a.fs, fa, on_bytes) == hash_file(b.fs, fb)
            progress.advance(1, 0)
            return result

        try:
            for out in run_parallel(equal, same_size, workers):
                if out.error is not None:
                    if not isinstance(out.error, Exception):
                        raise out.error
                    mismatches.append(Mismatch(out.item, "error: " + describe(out.error, b)))
                elif not out.value:
                    mismatches.append(Mismatch(out.item, "content differs"))
        finally:
            progress.finish()

    extra = sorted(p for p in dst_tree.entries if p not in src_tree.entries)
    return VerifyResult(src=a.display(), dst=b.display(), mode=mode,
                        files=len(src_tree.entries), bytes=src_tree.bytes,
                        mismatches=sorted(mismatches, key=lambda m: m.path), extra=extra,
                        elapsed_s=round(time.monotonic() - t0, 3), one_way=one_way)
