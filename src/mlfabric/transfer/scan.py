"""``transfer scan``: how many files and bytes a location holds, and how sizes spread."""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping, Sequence
from typing import Any

from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.transfer.listing import list_tree
from mlfabric.transfer.records import ScanResult, SizeBucket
from mlfabric.transfer.urls import DEFAULT_TIMEOUT, open_one, probe_source
from mlfabric.units import format_size

# Upper bounds of the histogram's buckets: factors of 16 from 4 KiB to 4 GiB.
BOUNDS = [4 * 2**10 * 16**i for i in range(6)]


def histogram(sizes: Sequence[int]) -> list[SizeBucket]:
    """Files and bytes per size bucket (``< 4 KiB``, ``< 64 KiB``, ..., ``>= 4 GiB``)."""
    counts = [[0, 0] for _ in range(len(BOUNDS) + 1)]
    for size in sizes:
        i = next((k for k, bound in enumerate(BOUNDS) if size < bound), len(BOUNDS))
        counts[i][0] += 1
        counts[i][1] += size
    buckets = [SizeBucket(f"< {format_size(bound)}", bound, files, nbytes)
               for bound, (files, nbytes) in zip(BOUNDS, counts, strict=False)]
    buckets.append(SizeBucket(f">= {format_size(BOUNDS[-1])}", None, *counts[-1]))
    return buckets


def scan(src: str, *, endpoint_url: str | None = None,
         options: Sequence[str] | Mapping[str, Any] | None = None,
         timeout: float = DEFAULT_TIMEOUT, top: int = 5,
         progress: Progress = NO_PROGRESS) -> ScanResult:
    """Count the files and bytes under ``src`` (one listing, no content read)."""
    t0 = time.monotonic()
    loc = open_one(src, endpoint_url=endpoint_url, options=options, timeout=timeout)
    single = probe_source(loc)
    progress.start(f"scanning {loc.display()}")
    try:
        tree = list_tree(loc, single_file=single, progress=progress)
    finally:
        progress.finish()
    entries = tree.entries.values()
    largest = heapq.nlargest(top, entries, key=lambda e: (e.size, e.path))
    return ScanResult(url=loc.display(), files=len(tree.entries), bytes=tree.bytes,
                      histogram=histogram([e.size for e in entries]),
                      largest=[{"path": e.path, "size": e.size} for e in largest],
                      elapsed_s=round(time.monotonic() - t0, 3))
