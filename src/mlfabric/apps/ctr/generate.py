"""``make_data``: click logs in the Criteo Terabyte format with a planted signal, written
shard by shard (memory stays one shard whatever the size), with the Bayes-optimal AUC."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from mlfabric import snapshots, volumes
from mlfabric.apps.ctr.criteo import CATS, COLUMNS, INTS
from mlfabric.apps.ctr.records import CtrDataset
from mlfabric.apps.ctr.signal import BayesMeter, Signal
from mlfabric.errors import AlreadyExists, InvalidInput
from mlfabric.progress import NO_PROGRESS, Progress

MANIFEST = "ctr-data.json"


def shard_plan(rows: int, days: int, shard_rows: int) -> list[tuple[int, int, int]]:
    """(day, shard, rows) of every file: rows spread evenly over days, each day cut into
    shards of at most ``shard_rows``."""
    if rows < 1 or days < 1 or shard_rows < 1:
        raise InvalidInput(f"--rows, --days and --shard-rows must be positive "
                           f"(got {rows}, {days}, {shard_rows})")
    if days > rows:
        raise InvalidInput(f"cannot spread {rows} rows over {days} days")
    plan = []
    for day in range(days):
        left = rows // days + (1 if day < rows % days else 0)
        shard = 0
        while left > 0:
            n = min(shard_rows, left)
            plan.append((day, shard, n))
            left -= n
            shard += 1
    return plan


def _table(labels: np.ndarray, ints: np.ndarray,
           index: np.ndarray, hexes: list[pa.Array]) -> pa.Table:
    cols: dict[str, pa.Array] = {"label": pc.cast(pa.array(labels), pa.string())}
    for k, name in enumerate(INTS):
        values = ints[:, k]
        whole = np.nan_to_num(values).astype(np.int64)
        cols[name] = pc.cast(pa.array(whole, mask=np.isnan(values)), pa.string())
    for k, name in enumerate(CATS):
        idx = index[:, k]
        cols[name] = pc.take(hexes[k], pa.array(idx, mask=idx < 0))
    return pa.table([cols[c] for c in COLUMNS], names=list(COLUMNS))


def make_data(path: str, *, rows: int, days: int = 1, shard_rows: int = 1_000_000,
              seed: int = 0, to_volume: str | None = None, force: bool = False,
              home: str | None = None, progress: Progress = NO_PROGRESS) -> CtrDataset:
    """Write ``rows`` click-log lines over ``days`` days into ``path`` (inside volume
    ``to_volume`` when given, then snapshotted)."""
    plan = shard_plan(rows, days, shard_rows)
    root = Path(path)
    if to_volume is not None:
        if root.is_absolute():
            raise InvalidInput(f"with --to-volume, the folder is inside the volume: give a "
                               f"relative path, not {path}")
        root = Path(volumes.path(to_volume, home=home)) / root
    if (root / MANIFEST).exists() and not force:
        raise AlreadyExists("click-log data", str(root))
    started = time.monotonic()
    signal = Signal.draw(seed)
    hexes = [pa.array([f"{c:08x}" for c in codes.tolist()], pa.string())
             for codes in signal.vocabulary]
    meter = BayesMeter()
    shards, total_bytes, clicks = [], 0, 0
    progress.start("writing click logs", total=rows)
    try:
        for day, shard, n in plan:
            rng = np.random.default_rng([seed, day, shard])
            p, labels, ints, index = signal.sample(rng, n)
            meter.add(p)
            clicks += int(labels.sum())
            rel = f"day_{day}/part-{shard:05d}.tsv"
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            pacsv.write_csv(_table(labels, ints, index, hexes), str(tmp),
                            write_options=pacsv.WriteOptions(include_header=False,
                                                             delimiter="\t",
                                                             quoting_style="none"))
            os.replace(tmp, target)
            size = target.stat().st_size
            total_bytes += size
            shards.append({"path": rel, "rows": n, "bytes": size})
            progress.advance(n, nbytes=size)
    finally:
        progress.finish()
    manifest = {"format": "criteo-terabyte-tsv", "rows": rows, "days": days,
                "shard_rows": shard_rows, "seed": seed, "clicks": clicks,
                "bayes_auc": meter.auc(), "bayes_log_loss": meter.log_loss(),
                "shards": shards}
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, root / MANIFEST)
    snap = snapshots.create(to_volume, home=home).ref if to_volume is not None else None
    return CtrDataset(path=str(root), rows=rows, days=days, shards=len(shards),
                      bytes=total_bytes, seed=seed, positive_rate=clicks / rows,
                      bayes_auc=meter.auc(), bayes_log_loss=meter.log_loss(),
                      seconds=time.monotonic() - started, volume=to_volume, snapshot=snap)


def read_manifest(path: str | os.PathLike[str]) -> dict | None:
    """The generator's manifest of a data folder, or None (real Criteo files have none)."""
    try:
        return json.loads((Path(path) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
