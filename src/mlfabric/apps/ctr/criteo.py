"""The Criteo Terabyte click-log format, read in blocks with malformed lines counted.

A line is tab-separated: the label (0 or 1), 13 integer features, 26 categorical features
hashed to 32 bits and written as 8 hex digits; a missing value is an empty field. Real
files (``day_0`` .. ``day_23``, plain or ``.gz``) and generated shards read the same way.

A line with the wrong number of fields, a label other than 0/1, a non-numeric integer or
a category that is not 8 hex digits is skipped and counted by reason in the shard's
``ShardReport``; reading never raises for a bad line, so a worker never crashes on one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from mlfabric.errors import InvalidInput, NotFound

INTS = tuple(f"i{k}" for k in range(1, 14))
CATS = tuple(f"c{k}" for k in range(1, 27))
COLUMNS = ("label", *INTS, *CATS)
FIELDS = len(COLUMNS)  # 40
SUFFIXES = (".tsv", ".txt", ".gz", ".bz2", ".zst")
BLOCK_BYTES = 8 << 20
_INT = r"^-?[0-9]{1,18}$"
# ASCII byte -> nibble value, 255 for a byte that is no hex digit.
_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _NIBBLE[_c] = 10 + _i
_POWERS = (16 ** np.arange(7, -1, -1)).astype(np.uint64)


@dataclass
class ShardReport:
    """Lines read from one file: kept, and skipped by reason."""

    path: str
    rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def malformed(self) -> int:
        return sum(self.skipped.values())

    def skip(self, reason: str, count: int = 1) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count

    def to_dict(self) -> dict:
        return {"path": self.path, "rows": self.rows, "malformed": self.malformed,
                "skipped": dict(sorted(self.skipped.items()))}


def shard_files(path: str | os.PathLike[str]) -> list[Path]:
    """The click-log files of ``path`` (one file, or a folder searched recursively), in
    order: day folders and shard numbers sort as written."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise NotFound("click-log data", str(root))
    files = sorted(p for p in root.rglob("*") if p.is_file() and
                   (p.suffix in SUFFIXES or (p.name.startswith("day_") and "." not in p.name)))
    if not files:
        raise InvalidInput(f"no click-log files in {root} (expected *.tsv, *.txt, *.gz or "
                           "day_N files)")
    return files


def hex32(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Categories as uint32 (0 where missing) and a mask of the valid ones (8 hex digits
    or missing)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    n = len(values)
    missing = values.is_null().to_numpy(zero_copy_only=False)
    lengths = pc.fill_null(pc.binary_length(values), 8).to_numpy(zero_copy_only=False)
    valid = lengths == 8
    if not valid.all():  # keep the fixed-width rows only, to read them as an n x 8 grid
        values = pc.if_else(pa.array(valid), values, pa.scalar(None, pa.string()))
    filled = pc.fill_null(values, "00000000")
    if len(filled) and isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    offsets = np.frombuffer(filled.buffers()[1], dtype=np.int32)[filled.offset:
                                                                   filled.offset + n + 1]
    raw = np.frombuffer(filled.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[0] + 8 * n]
    nibbles = _NIBBLE[raw.reshape(n, 8)]
    valid &= (nibbles != 255).all(axis=1)
    codes = (nibbles.astype(np.uint64) @ _POWERS).astype(np.uint32)
    codes[missing | ~valid] = 0
    return codes, valid


def _parse(table: pa.Table, report: ShardReport) -> pd.DataFrame:
    """Validate one block of string columns; the good rows as a frame: label (int8),
    integers (float64, NaN where missing) and categories (uint32, 0 where missing)."""
    n = table.num_rows
    good = np.ones(n, dtype=bool)
    label = table.column("label")
    ok_label = pc.fill_null(pc.is_in(label, pa.array(["0", "1"])), False).to_numpy(
        zero_copy_only=False)
    report.skip("bad label", int((~ok_label).sum()))
    good &= ok_label
    ints = {}
    for name in INTS:
        col = table.column(name)
        ok = pc.fill_null(pc.match_substring_regex(col, _INT), True).to_numpy(
            zero_copy_only=False)
        bad = ~ok & good
        report.skip("non-numeric integer", int(bad.sum()))
        good &= ok
        cleaned = pc.if_else(pa.array(ok), col, pa.scalar(None, pa.string()))
        ints[name] = pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False)
    cats = {}
    for name in CATS:
        codes, ok = hex32(table.column(name))
        bad = ~ok & good
        report.skip("non-hex category", int(bad.sum()))
        good &= ok
        cats[name] = codes
    frame = pd.DataFrame({"label": np.where(ok_label, label.to_numpy(zero_copy_only=False)
                                            == "1", False).astype(np.int8),
                          **ints, **cats})
    kept = frame[good] if not good.all() else frame
    report.rows += len(kept)
    return kept.reset_index(drop=True)


def iter_blocks(path: str | os.PathLike[str], report: ShardReport, *,
                limit: int | None = None, block_bytes: int = BLOCK_BYTES,
                threads: bool = True) -> Iterator[pd.DataFrame]:
    """The good rows of one file in blocks of about ``block_bytes`` of text, at most
    ``limit`` rows in all; bad lines are counted in ``report``. ``threads``: parse
    blocks on pyarrow's thread pool (a Dask worker reads on its own thread instead)."""

    def _wrong_count(row: pacsv.InvalidRow) -> str:
        report.skip("wrong field count")
        return "skip"

    schema = {name: pa.string() for name in COLUMNS}
    try:
        reader = pacsv.open_csv(
            str(path),
            read_options=pacsv.ReadOptions(column_names=list(COLUMNS), block_size=block_bytes,
                                           use_threads=threads),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False,
                                             double_quote=False, escape_char=False,
                                             newlines_in_values=False,
                                             invalid_row_handler=_wrong_count),
            convert_options=pacsv.ConvertOptions(column_types=schema, strings_can_be_null=True,
                                                 quoted_strings_can_be_null=False,
                                                 null_values=[""]))
    except FileNotFoundError as exc:
        raise NotFound("click-log file", str(path)) from exc
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return
        raise InvalidInput(f"{path}: not a click-log file ({exc})") from exc
    left = limit
    for batch in reader:
        if left is not None and left <= 0:
            break
        frame = _parse(pa.Table.from_batches([batch]), report)
        if left is not None and len(frame) > left:
            report.rows -= len(frame) - left
            frame = frame.iloc[:left]
        if left is not None:
            left -= len(frame)
        yield frame


def read_file(path: str | os.PathLike[str], *, limit: int | None = None
              ) -> tuple[pd.DataFrame, ShardReport]:
    """All good rows of one file (at most ``limit``) and its report."""
    report = ShardReport(str(path))
    frames = list(iter_blocks(path, report, limit=limit))
    return (pd.concat(frames, ignore_index=True) if frames else empty_frame()), report


def empty_frame() -> pd.DataFrame:
    """A frame with the columns and types of the reader's output and no rows."""
    return pd.DataFrame({"label": np.zeros(0, np.int8),
                         **{n: np.zeros(0, np.float64) for n in INTS},
                         **{n: np.zeros(0, np.uint32) for n in CATS}})
