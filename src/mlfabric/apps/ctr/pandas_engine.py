"""The reference engine: pandas reads the first N rows into one process, scikit-learn
(or XGBoost) trains there. A memory guard estimates the footprint before anything is
loaded and refuses a run that would not fit the budget."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlfabric.apps.ctr import features as F
from mlfabric.apps.ctr.criteo import BLOCK_BYTES
from mlfabric.apps.ctr.models import ModelSpec, click_scores, forest
from mlfabric.apps.ctr.sources import Part, load, planned_rows, split
from mlfabric.errors import MlfabricError
from mlfabric.units import format_size

# A block of text being parsed: the text, its 40 string columns, the parsed block.
BLOCK_OVERHEAD = 6 * BLOCK_BYTES


class MemoryBudgetExceeded(MlfabricError, MemoryError):
    """A run needs (the pandas engine: would need) more memory than it was given."""

    def __init__(self, message: str, *, rows: int | None = None, estimate: int | None = None,
                 budget: int) -> None:
        super().__init__(message)
        self.rows, self.estimate, self.budget = rows, estimate, budget

    @classmethod
    def pandas(cls, rows: int, estimate: int, budget: int) -> MemoryBudgetExceeded:
        return cls(f"the pandas engine needs about {format_size(estimate)} for {rows:,} rows, "
                   f"more than its memory budget of {format_size(budget)}: read fewer rows "
                   f"(--rows) or train with --engine dask", rows=rows, estimate=estimate,
                   budget=budget)

    @classmethod
    def workers(cls, lost: list[str], budget: int) -> MemoryBudgetExceeded:
        return cls(f"Dask worker(s) {', '.join(lost)} died during the run with a memory "
                   f"budget of {format_size(budget)} each: give them more (--memory)",
                   budget=budget)


def estimate(rows: int, categorical: str, jobs: int) -> int:
    """Bytes the pandas engine needs at its peak to train on ``rows`` rows."""
    return rows * F.pandas_bytes_per_row(categorical, jobs) + BLOCK_OVERHEAD


def guard(parts: list[Part], categorical: str, jobs: int, budget: int | None) -> int | None:
    """The estimate for the planned rows; refuses (``MemoryBudgetExceeded``) above budget."""
    rows = planned_rows(parts)
    if rows is None:  # lengths unknown: read the sizes as a bound (a line is >= 41 bytes)
        rows = sum(os.path.getsize(p.path) for p in parts) // 41
    need = estimate(rows, categorical, jobs)
    if budget is not None and need > budget:
        raise MemoryBudgetExceeded.pandas(rows, need, budget)
    return need


@dataclass
class Outcome:
    """What an engine hands back to ``train``."""

    model: Any
    labels: np.ndarray
    scores: np.ndarray
    train_rows: int
    reports: list[dict]
    read_seconds: float
    train_seconds: float
    seconds: float  # read + train + score, after the modules are loaded
    workers: int = 1
    dashboard: str | None = None
    scheduler: str | None = None


def run(parts: list[Part], spec: ModelSpec, categorical: str, jobs: int) -> Outcome:
    """Read, train, score in this process."""
    import sklearn.ensemble  # noqa: F401  (loaded before the clock starts, as on workers)

    started = time.monotonic()
    loaded = [load(p, F.columns(categorical)) for p in parts]
    frame = pd.concat([f for f, _ in loaded], ignore_index=True)
    reports = [r for _, r in loaded]
    del loaded
    read_done = time.monotonic()
    train, test = split(frame)
    tables = F.target_tables(train) if categorical == "target" else None
    x_train = F.features(train, categorical, tables, training=True)
    y_train = train["label"].to_numpy(np.int8)
    if spec.kind == "rf":
        model = forest(spec, spec.trees, jobs, spec.seed).fit(x_train, y_train)
    else:
        import xgboost as xgb

        threads = (os.cpu_count() or 1) if jobs < 0 else jobs
        model = xgb.train(spec.xgb_params(threads),
                          xgb.QuantileDMatrix(x_train, y_train, max_bin=256),
                          num_boost_round=spec.rounds)
    train_done = time.monotonic()
    scores = click_scores(model, F.features(test, categorical, tables))
    return Outcome(model=model, labels=test["label"].to_numpy(np.int8), scores=scores,
                   train_rows=len(train), reports=reports, read_seconds=read_done - started,
                   train_seconds=train_done - read_done, seconds=time.monotonic() - started)
