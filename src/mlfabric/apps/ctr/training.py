"""``train``: one run on either engine, scored on the held-out rows, recorded with its
model, metrics and the data version in an output volume (then snapshotted) or folder."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from mlfabric import snapshots, volumes
from mlfabric.apps.ctr import dask_engine, pandas_engine
from mlfabric.apps.ctr.features import CATEGORICAL, metrics
from mlfabric.apps.ctr.generate import MANIFEST, read_manifest
from mlfabric.apps.ctr.models import ModelSpec, save
from mlfabric.apps.ctr.records import TrainResult
from mlfabric.apps.ctr.sources import plan
from mlfabric.errors import InvalidInput, MlfabricError
from mlfabric.names import validate_name
from mlfabric.units import parse_size

ENGINES = ("pandas", "dask")
RUNS_DIR = "runs"
METRICS = "metrics.json"


def volume_of(path: str, home: str | None) -> str | None:
    """The volume whose folder holds ``path``, if any (None too where no catalog can be
    read: a confined job sees its volumes, not the home)."""
    try:
        found = volumes.holding(path, home=home)
    except (MlfabricError, OSError):
        return None
    return found[0] if found else None


def data_version(data: str, home: str | None) -> str | None:
    """What names the data read: the newest snapshot of its volume (``VOLUME@SNAPSHOT``,
    taken by ``make-data --to-volume``), else a digest of the generator's manifest."""
    vol = volume_of(data, home)
    if vol is not None:
        snaps = snapshots.list(vol, home=home)
        if snaps:
            return snaps[-1].ref
    folder = data if os.path.isdir(data) else os.path.dirname(data)
    manifest = Path(folder) / MANIFEST
    if manifest.exists():
        return "sha256:" + hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    return None


def default_categorical(model: str) -> str:
    """The recipe's forest uses the integer columns only; boosting adds the categories."""
    return "none" if model == "rf" else "target"


def train(data: str, *, engine: str = "pandas", model: str = "rf", rows: int | None = None,
          categorical: str | None = None, trees: int = 10, max_depth: int = 10,
          rounds: int = 60, memory: str | int | None = None, jobs: int = -1,
          workers: int = 2, threads: int = 1, scheduler_address: str | None = None,
          out: str | None = None, out_dir: str | None = None, run: str | None = None,
          seed: int = 0, version: str | None = None, home: str | None = None,
          on_cluster: Callable[[str, str | None, int], None] | None = None) -> TrainResult:
    """Train on the first ``rows`` rows of ``data`` and score the held-out ones.

    ``memory``: the pandas engine's budget (refused above it, before loading) or, for
    Dask, what each worker may allocate. ``out``: a volume to record the run in and
    snapshot; ``out_dir``: a folder (a gang job's volume, snapshotted by the scheduler).
    ``version``: the data's version to record (default: found from the data's volume).
    """
    if engine not in ENGINES:
        raise InvalidInput(f"unknown engine '{engine}': expected one of {', '.join(ENGINES)}",
                           field="engine", value=engine)
    spec = ModelSpec(kind=model, trees=trees, max_depth=max_depth, rounds=rounds, seed=seed)
    categorical = categorical or default_categorical(model)
    if categorical not in CATEGORICAL:
        raise InvalidInput(f"unknown categorical encoding '{categorical}': expected one of "
                           f"{', '.join(CATEGORICAL)}", field="categorical", value=categorical)
    if out is not None and out_dir is not None:
        raise InvalidInput("give --out (a volume) or --out-dir (a folder), not both")
    budget = parse_size(memory) if memory is not None else None
    run = run or f"{engine}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    validate_name(run, "run name")
    target = None
    if out is not None:
        target = Path(volumes.path(out, home=home)) / RUNS_DIR / run
    elif out_dir is not None:
        target = Path(out_dir) / run
    if target is not None and (target / METRICS).exists():
        raise InvalidInput(f"run '{run}' is already recorded in {target.parent}")
    parts = plan(data, rows)
    estimate = None
    if engine == "pandas":
        estimate = pandas_engine.guard(parts, categorical, jobs, budget)
        outcome = pandas_engine.run(parts, spec, categorical, jobs)
    else:
        outcome = dask_engine.run(parts, spec, categorical, address=scheduler_address,
                                  workers=workers, threads=threads, budget=budget,
                                  on_cluster=on_cluster)
    scores = metrics(outcome.labels, outcome.scores)
    manifest = read_manifest(data) if os.path.isdir(data) else None
    result = TrainResult(
        run=run, engine=engine, model=model, data=os.path.abspath(data),
        rows=outcome.train_rows + len(outcome.labels), train_rows=outcome.train_rows,
        test_rows=len(outcome.labels), **scores, read_seconds=outcome.read_seconds,
        train_seconds=outcome.train_seconds, seconds=outcome.seconds,
        malformed=sum(r["malformed"] for r in outcome.reports), categorical=categorical,
        workers=outcome.workers, bayes_auc=(manifest or {}).get("bayes_auc"),
        data_version=version or data_version(data, home), dashboard=outcome.dashboard,
        scheduler=outcome.scheduler, memory_budget=budget, estimate=estimate,
        out=str(target) if target is not None else None,
        snapshot=f"{out}@{run}" if out is not None else None, finished_at=time.time(),
        shard_reports=[r for r in outcome.reports if r["malformed"]])
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
        model_file = save(outcome.model, str(target))
        (target / "shards.json").write_text(json.dumps(outcome.reports, indent=1) + "\n")
        tmp = target / (METRICS + ".tmp")
        tmp.write_text(json.dumps({**result.to_dict(), "model_file": model_file},
                                  indent=1) + "\n")
        os.replace(tmp, target / METRICS)
    if out is not None:
        snapshots.create(out, name=run, home=home)
    return result


def runs(volume: str, *, home: str | None = None) -> list[dict]:
    """The runs recorded in a volume, newest first: their metrics."""
    root = Path(volumes.path(volume, home=home)) / RUNS_DIR
    found = []
    for path in sorted(root.glob(f"*/{METRICS}")) if root.is_dir() else []:
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(found, key=lambda r: r.get("finished_at", 0), reverse=True)
