"""The distributed engine: the files are read by Dask workers of a real ``distributed``
cluster (one started here, a gang job's, or any at ``--scheduler-address``), never by
this process.

- random forest: each task reads its group of files and fits its share of the trees on
  their training rows (as cuML's multi-node forest fits each worker's trees on its local
  rows); the trees are merged into one forest, and a second pass scores the held-out
  rows file by file. Nothing is kept between tasks, so memory is one group of files.
- XGBoost: the files are loaded into the workers' memory (``dask.dataframe`` over the
  loaded parts), categories target-encoded from training rows by a distributed groupby,
  and ``xgboost.dask`` trains on all workers at once.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from mlfabric.apps.ctr import features as F
from mlfabric.apps.ctr.criteo import CATS, INTS
from mlfabric.apps.ctr.models import ModelSpec, click_scores, forest, merge_forests
from mlfabric.apps.ctr.pandas_engine import MemoryBudgetExceeded, Outcome
from mlfabric.apps.ctr.sources import Part, load, split
from mlfabric.errors import InvalidInput

ADDRESS_ENV = "MLFABRIC_DASK_ADDRESS"  # set for the command of a Dask gang job


def _n_features(categorical: str) -> int:
    return len(INTS) + (0 if categorical == "none" else len(CATS))


@contextlib.contextmanager
def connect(address: str | None, workers: int, threads: int) -> Iterator[Any]:
    """A client of the cluster at ``address`` (or of the gang job this runs in), else of
    a ``LocalCluster`` of ``workers`` processes on loopback, closed after."""
    from distributed import Client, LocalCluster

    address = address or os.environ.get(ADDRESS_ENV)
    if address:
        with Client(address, timeout=60) as client:
            yield client
        return
    if workers < 1:
        raise InvalidInput(f"--workers must be at least 1 (got {workers})")
    with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                      host="127.0.0.1", dashboard_address="127.0.0.1:0", memory_limit=0,
                      silence_logs=40) as cluster, Client(cluster) as client:
        yield client


def _worker_data() -> int:
    """This process's data segment now (VmData: heap and private mappings)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def _load_modules() -> None:
    """What the tasks import, loaded on every worker before the clock starts (as the
    pandas engine's process has them before its clock starts)."""
    import pyarrow.csv  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    with contextlib.suppress(ImportError):
        import xgboost  # noqa: F401


def _warm_up(part: Part, categorical: str) -> None:
    """What a task does, on a few rows, before the limit counts from here: it loads the
    modules, and starts the threads they start on first use (a thread's stack is data
    too, and a pool that cannot start its threads aborts the process)."""
    frame = load(Part(part.path, 20, None), F.columns(categorical), small=True)[0]
    x = F.features(frame, "hash" if categorical == "target" else categorical)
    forest(ModelSpec(), 1, 1, 0).fit(x, np.arange(len(x)) % 2)


def _set_data_limit(budget: int) -> tuple[int, int]:
    """On a worker: allow it ``budget`` bytes of data beyond what it holds now; the
    limits it had."""
    import resource

    old = resource.getrlimit(resource.RLIMIT_DATA)
    soft = _worker_data() + budget
    if old[1] != resource.RLIM_INFINITY:
        soft = min(soft, old[1])
    resource.setrlimit(resource.RLIMIT_DATA, (soft, old[1]))
    return old


def _restore_data_limit(limits: dict[str, tuple[int, int]],
                        dask_worker: Any = None) -> None:
    """On a worker: the limits it had before the run (a soft limit may go back up to
    the hard one, which was never lowered)."""
    import resource

    if dask_worker is not None and dask_worker.address in limits:
        resource.setrlimit(resource.RLIMIT_DATA, tuple(limits[dask_worker.address]))


@contextlib.contextmanager
def memory_budget(client: Any, budget: int | None, warm_up: Callable[[], None] | None = None
                  ) -> Iterator[None]:
    """Each worker may allocate at most ``budget`` bytes more while the run lasts
    (``RLIMIT_DATA``: an allocation beyond it fails in that worker, not the machine);
    ``warm_up`` runs as a task on every worker first."""
    if budget is None:
        yield
        return
    if warm_up is not None:
        client.gather([client.submit(warm_up, workers=[w], pure=False, allow_other_workers=False)
                       for w in client.scheduler_info(n_workers=-1)["workers"]])
    before = client.run(_set_data_limit, budget)
    try:
        yield
        now = set(client.scheduler_info(n_workers=-1)["workers"])
        if now != set(before):  # one died (and may have come back without the limit)
            raise MemoryBudgetExceeded.workers(sorted(set(before) - now), budget)
    finally:
        client.run(_restore_data_limit, before)


def _groups(parts: list[Part], trees: int) -> list[tuple[list[Part], int]]:
    """Files per fitting task and the trees each fits: a task per file when there are
    fewer files than trees (trees spread over them), else ``trees`` groups of files."""
    if len(parts) <= trees:
        return [(parts[k:k + 1], trees // len(parts) + (1 if k < trees % len(parts) else 0))
                for k in range(len(parts))]
    return [(parts[g::trees], 1) for g in range(trees)]


def _fit_group(group: list[Part], trees: int, spec: ModelSpec, categorical: str,
               tables: F.TargetTables | None, seed: int) -> Any:
    train = pd.concat([split(load(p, F.columns(categorical), small=True)[0])[0] for p in group],
                      ignore_index=True)
    if not len(train):
        return None
    return forest(spec, trees, 1, seed).fit(F.features(train, categorical, tables, True),
                                             train["label"].to_numpy(np.int8))


def _score_part(part: Part, model: Any, categorical: str, tables: F.TargetTables | None
                ) -> tuple[np.ndarray, np.ndarray, dict]:
    frame, report = load(part, F.columns(categorical), small=True)
    test = split(frame)[1]
    return (test["label"].to_numpy(np.int8),
            click_scores(model, F.features(test, categorical, tables))
            if len(test) else np.zeros(0), report)


def _stats(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    train = split(frame)[0]
    return {name: F.category_stats(train, name) for name in CATS}


def _stats_of(part: Part) -> dict[str, pd.DataFrame]:
    return _stats(load(part, F.columns("target"), small=True)[0])


def _add_stats(*many: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {name: pd.concat([m[name] for m in many]).groupby(level=[0, 1]).sum()
            for name in CATS}


def _tables(client: Any, stat_futures: list[Any]) -> F.TargetTables:
    """Target-encoding tables from per-part click counts, added on the workers."""
    while len(stat_futures) > 1:  # a tree reduction: no task sees more than 8 parts
        stat_futures = [client.submit(_add_stats, *stat_futures[i:i + 8], pure=False)
                        for i in range(0, len(stat_futures), 8)]
    return client.submit(F.TargetTables.from_stats, stat_futures[0], pure=False).result()


def _encode(frame: pd.DataFrame, categorical: str,
            tables: F.TargetTables | None) -> pd.DataFrame:
    train, test = split(frame)
    x = np.vstack([F.features(train, categorical, tables, True),
                   F.features(test, categorical, tables)])
    out = pd.DataFrame(x, columns=[f"f{k}" for k in range(x.shape[1])])
    out["label"] = np.concatenate([train["label"].to_numpy(np.int8),
                                   test["label"].to_numpy(np.int8)])
    out["heldout"] = np.arange(len(out)) >= len(train)
    return out


def _forest(client: Any, parts: list[Part], spec: ModelSpec, categorical: str
            ) -> tuple[Any, np.ndarray, np.ndarray, list[dict], float]:
    tables = None
    if categorical == "target":
        tables = _tables(client, client.map(_stats_of, parts, pure=False))
    tables_f = client.scatter(tables, broadcast=True) if tables is not None else None
    fits = [client.submit(_fit_group, group, trees, spec, categorical, tables_f,
                          spec.seed + k, pure=False)
            for k, (group, trees) in enumerate(_groups(parts, spec.trees))]
    model = merge_forests(client.gather(fits))
    fitted = time.monotonic()
    model_f = client.scatter(model, broadcast=True)
    scored = client.gather(client.map(_score_part, parts, model=model_f,
                                      categorical=categorical, tables=tables_f, pure=False))
    labels = np.concatenate([s[0] for s in scored])
    scores = np.concatenate([s[1] for s in scored])
    return model, labels, scores, [s[2] for s in scored], fitted


def _boosted(client: Any, parts: list[Part], spec: ModelSpec, categorical: str,
             threads: int) -> tuple[Any, np.ndarray, np.ndarray, list[dict], float, float]:
    import dask.dataframe as dd
    from xgboost import dask as dxgb

    loaded = client.map(load, parts, cols=F.columns(categorical), small=True, pure=False)
    frames = client.map(lambda pair: pair[0], loaded, pure=False)
    reports = client.gather(client.map(lambda pair: pair[1], loaded, pure=False))
    del loaded
    read_done = time.monotonic()
    tables = None
    if categorical == "target":
        tables = _tables(client, client.map(_stats, frames, pure=False))
    tables_f = client.scatter(tables, broadcast=True) if tables is not None else None
    encoded = client.map(_encode, frames, categorical=categorical, tables=tables_f,
                         pure=False)
    del frames
    n_features = _n_features(categorical)
    meta = pd.DataFrame({**{f"f{k}": np.zeros(0, np.float32) for k in range(n_features)},
                         "label": np.zeros(0, np.int8), "heldout": np.zeros(0, bool)})
    ddf = dd.from_delayed(encoded, meta=meta, verify_meta=False)
    cols = [c for c in ddf.columns if c.startswith("f")]
    train, test = ddf[~ddf["heldout"]], ddf[ddf["heldout"]]
    dtrain = dxgb.DaskQuantileDMatrix(client, train[cols], train["label"], max_bin=256)
    booster = dxgb.train(client, spec.xgb_params(threads), dtrain,
                             num_boost_round=spec.rounds)["booster"]
    fitted = time.monotonic()
    scores = dxgb.predict(client, booster, test[cols]).compute()
    labels = test["label"].compute().to_numpy(np.int8)
    return booster, labels, np.asarray(scores), reports, read_done, fitted


def run(parts: list[Part], spec: ModelSpec, categorical: str, *, address: str | None,
        workers: int, threads: int, budget: int | None,
        on_cluster: Callable[[str, str | None, int], None] | None = None) -> Outcome:
    """Read, train and score on a Dask cluster."""
    with connect(address, workers, threads) as client:
        n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
        link, scheduler = client.dashboard_link, client.scheduler.address
        if on_cluster is not None:
            on_cluster(scheduler, link, n_workers)
        warm = functools.partial(_warm_up, parts[0], categorical)
        client.run(_load_modules)
        with memory_budget(client, budget, warm):
            started = time.monotonic()
            if spec.kind == "rf":
                model, labels, scores, reports, fitted = _forest(client, parts, spec,
                                                                 categorical)
                read_done = started  # reading is part of each fitting task
            else:
                model, labels, scores, reports, read_done, fitted = _boosted(
                    client, parts, spec, categorical, threads)
            seconds = time.monotonic() - started
    train_rows = sum(r["rows"] for r in reports) - len(labels)
    return Outcome(model=model, labels=labels, scores=scores, train_rows=train_rows,
                   reports=reports, read_seconds=read_done - started,
                   train_seconds=fitted - read_done, seconds=seconds, workers=n_workers,
                   dashboard=link,
                   scheduler=scheduler)
