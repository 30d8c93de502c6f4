"""Which rows a run reads: the first N rows of the data, file by file, planned the same
way for both engines so they train and score on the same rows."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlfabric.apps.ctr.criteo import BLOCK_BYTES, ShardReport, iter_blocks, shard_files
from mlfabric.apps.ctr.features import folds, held_out
from mlfabric.apps.ctr.generate import read_manifest
from mlfabric.errors import InvalidInput

SMALL_BLOCK = 1 << 20


@dataclass(frozen=True)
class Part:
    """One file and how many of its rows a run reads (None: all)."""

    path: str
    limit: int | None
    lines: int | None  # lines in the file, when known


def count_lines(path: str | os.PathLike[str]) -> int:
    """Lines in a file (a ``.gz`` one decompressed on the fly)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    count = 0
    with opener(path, "rb") as f:
        while chunk := f.read(16 << 20):
            count += chunk.count(b"\n")
    return count


def plan(data: str, rows: int | None) -> list[Part]:
    """The files of ``data`` to read and the rows of each: the first ``rows`` in all."""
    if rows is not None and rows < 10:
        raise InvalidInput(f"--rows must be at least 10 (got {rows})")
    files = shard_files(data)
    manifest = read_manifest(data) if Path(data).is_dir() else None
    known = {str(Path(data) / s["path"]): s["rows"] for s in (manifest or {}).get("shards", [])}
    parts: list[Part] = []
    left = rows
    for f in files:
        if left is not None and left <= 0:
            break
        lines = known.get(str(f))
        if lines is None and left is not None:
            lines = count_lines(f)
        take = None if left is None or (lines is not None and lines <= left) else left
        parts.append(Part(str(f), take, lines))
        if left is not None:
            left -= lines if take is None else take
    return parts


def planned_rows(parts: list[Part]) -> int | None:
    """Rows the plan reads, or None when a file's length is unknown."""
    total = 0
    for p in parts:
        n = p.limit if p.limit is not None else p.lines
        if n is None:
            return None
        total += n
    return total


def load(part: Part, cols: list[str], *, small: bool = False) -> tuple[pd.DataFrame, dict]:
    """A part's good rows (``cols``, ``heldout`` and ``fold``) and its shard report.
    ``small``: 1 MiB blocks parsed on this thread (a Dask task in a memory budget)."""
    report = ShardReport(part.path)
    blocks = iter_blocks(part.path, report, limit=part.limit, threads=not small,
                         block_bytes=SMALL_BLOCK if small else BLOCK_BYTES)
    frames = [block[cols] for block in blocks]
    frame = pd.concat(frames, ignore_index=True) if frames else _empty(cols)
    frame["heldout"] = held_out(len(frame))
    frame["fold"] = folds(len(frame))
    return frame, report.to_dict()


def _empty(cols: list[str]) -> pd.DataFrame:
    from mlfabric.apps.ctr.criteo import empty_frame

    return empty_frame()[cols]


def bytes_on_disk(parts: list[Part]) -> int:
    return sum(os.path.getsize(p.path) for p in parts)


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows and held-out rows."""
    mask = frame["heldout"].to_numpy(bool)
    return frame[~mask], frame[mask]


def labels(frame: pd.DataFrame) -> np.ndarray:
    return frame["label"].to_numpy(np.int8)
