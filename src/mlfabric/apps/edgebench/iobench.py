"""``edgebench io VOLUME``: what a volume's storage reads, for sizing it: sequential and
random read throughput and IOPS at several block sizes, and whole-frame reads as
Frametest does (one file per video frame). Scratch files go to ``.edgebench-io/`` in the
volume and are removed after; each pass starts with them out of the page cache."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mlfabric.apps.edgebench.data import drop_cache
from mlfabric.apps.edgebench.records import IoReport, IoRow
from mlfabric.errors import InvalidInput

SCRATCH = ".edgebench-io"
BLOCKS = (4096, 65536, 1 << 20)
FRAME = 1920 * 1080 * 3  # one 8-bit RGB HD frame (Frametest's HD preset: ~6 MiB)
CHUNK = 1 << 22


def _write(path: Path, size: int, rng: np.random.Generator) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(CHUNK, left)
            f.write(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
            left -= n
        f.flush()
        os.fsync(f.fileno())


def _row(pattern: str, block: int, ops: int, nbytes: int, seconds: float) -> IoRow:
    seconds = max(seconds, 1e-9)
    return IoRow(pattern=pattern, block_bytes=block, operations=ops, seconds=round(seconds, 4),
                 mib_per_second=round(nbytes / seconds / (1 << 20), 2),
                 iops=round(ops / seconds, 1))


def _read_all(fd: int, size: int, block: int, offsets: Iterator[int]) -> tuple[int, int]:
    ops = done = 0
    for off in offsets:
        got = len(os.pread(fd, block, off))
        ops += 1
        done += got
    return ops, done


def characterise(volume: str, *, file_mib: int = 256, blocks: tuple[int, ...] = BLOCKS,
                 random_ops: int = 2000, frames: int = 32, frame_bytes: int = FRAME,
                 network: bool = False, seed: int = 0, home: str | None = None) -> IoReport:
    """Measure the storage under ``volume`` (``network``: through the loopback network
    file system instead of directly)."""
    from mlfabric import volumes

    if file_mib < 1 or frames < 1 or random_ops < 1 or not blocks or min(blocks) < 512:
        raise InvalidInput("give a positive file size, frame count and operation count, "
                           "and block sizes of at least 512 bytes", field="io")
    base = Path(volumes.path(volume, home=home))  # NotFound for a missing volume
    scratch = base / SCRATCH
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    rng = np.random.default_rng(seed)
    size = file_mib << 20
    try:
        _write(scratch / "data.bin", size, rng)
        for i in range(frames):
            _write(scratch / f"frame-{i:05d}.raw", frame_bytes, rng)
        written = sorted(scratch.iterdir())
        with _view(scratch, network) as root:
            rows = _measure(Path(root), written, size, blocks, random_ops, frames,
                            frame_bytes, rng)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return IoReport(volume=volume, path=str(base), file_bytes=size, rows=rows,
                    cache="posix_fadvise(DONTNEED) on every file before each pass, at the "
                          "source and where it is read")


@contextlib.contextmanager
def _view(scratch: Path, network: bool) -> Iterator[str]:
    if not network:
        yield str(scratch)
        return
    from mlfabric.apps.edgebench.netfs import sftp_mount

    with sftp_mount(scratch) as mount:
        yield mount


def _measure(root: Path, written: list[Path], size: int, blocks: tuple[int, ...],
             random_ops: int, frames: int, frame_bytes: int,
             rng: np.random.Generator) -> list[IoRow]:
    data = root / "data.bin"
    rows = []

    def cold() -> None:
        drop_cache(written)
        drop_cache(root / p.name for p in written)

    for block in blocks:
        cold()
        fd = os.open(data, os.O_RDONLY)
        try:
            t = time.monotonic()
            ops, done = _read_all(fd, size, block, iter(range(0, size, block)))
            rows.append(_row("sequential", block, ops, done, time.monotonic() - t))
            cold()
            slots = size // block
            offsets = (int(o) * block for o in rng.integers(0, slots, min(random_ops, slots)))
            t = time.monotonic()
            ops, done = _read_all(fd, size, block, offsets)
            rows.append(_row("random", block, ops, done, time.monotonic() - t))
        finally:
            os.close(fd)
    cold()
    t = time.monotonic()
    done = 0
    for i in range(frames):
        with open(root / f"frame-{i:05d}.raw", "rb", buffering=0) as f:
            done += len(f.read())
    rows.append(_row("frames", frame_bytes, frames, done, time.monotonic() - t))
    return rows
