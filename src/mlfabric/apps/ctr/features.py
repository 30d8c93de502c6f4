"""Pure pieces of training: which rows are held out, features from a block of rows,
target-encoding tables, the metrics, and the pandas engine's memory estimate."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlfabric.apps.ctr.criteo import CATS, INTS

HELD_OUT = 2  # of every 10 rows of a file, by position: the same rows for every engine
CATEGORICAL = ("none", "hash", "target")
HASH_BUCKETS = 1 << 20
SMOOTHING = 20.0  # prior weight of a category's click rate
FOLDS = 5  # a training row's category is encoded from the other folds' rows (no leak)


def held_out(rows: int) -> np.ndarray:
    """Which of a file's first ``rows`` rows are held out (rows 8 and 9 of every 10)."""
    return np.arange(rows) % 10 >= 10 - HELD_OUT


def folds(rows: int) -> np.ndarray:
    """The target-encoding fold of each of a file's rows."""
    return (np.arange(rows) // 10 % FOLDS).astype(np.int8)


def category_stats(train: pd.DataFrame, name: str) -> pd.DataFrame:
    """Clicks (``sum``) and rows (``count``) per (fold, category) of training rows."""
    return train.groupby(["fold", name])["label"].agg(["sum", "count"])


@dataclass(frozen=True)
class TargetTables:
    """Smoothed click rates per category: from all training rows (to encode held-out
    rows) and, per fold, from the other folds' rows (to encode that fold's rows)."""

    prior: float
    full: dict[str, pd.Series]
    out_of_fold: dict[str, list[pd.Series]]

    @classmethod
    def from_stats(cls, stats: dict[str, pd.DataFrame]) -> TargetTables:
        first = next(iter(stats.values()))
        rows = float(first["count"].sum())
        prior = float(first["sum"].sum()) / rows if rows else 0.0
        full, oof = {}, {}
        for name, per_fold in stats.items():
            total = per_fold.groupby(level=1).sum()
            full[name] = encoding_table(total["sum"], total["count"], prior)
            oof[name] = []
            for k in range(FOLDS):
                mine = per_fold.xs(k, level=0) if k in per_fold.index.get_level_values(0) \
                    else total.iloc[:0]
                rest = total.sub(mine, fill_value=0)
                oof[name].append(encoding_table(rest["sum"], rest["count"], prior))
        return cls(prior=prior, full=full, out_of_fold=oof)

    def encode(self, frame: pd.DataFrame, name: str, training: bool) -> np.ndarray:
        if not training:
            return frame[name].map(self.full[name]).fillna(self.prior).to_numpy(np.float32)
        out = np.empty(len(frame), dtype=np.float32)
        fold = frame["fold"].to_numpy()
        for k in range(FOLDS):
            rows = fold == k
            out[rows] = frame[name][rows].map(self.out_of_fold[name][k]).fillna(
                self.prior).to_numpy(np.float32)
        return out


def columns(categorical: str) -> list[str]:
    """Reader columns a model with ``categorical`` features needs."""
    return ["label", *INTS] + ([] if categorical == "none" else list(CATS))


def target_tables(train: pd.DataFrame) -> TargetTables:
    """Target-encoding tables from training rows in memory."""
    return TargetTables.from_stats({name: category_stats(train, name) for name in CATS})


def encoding_table(sums: pd.Series, counts: pd.Series, prior: float) -> pd.Series:
    """A category's smoothed click rate: (clicks + prior * m) / (count + m)."""
    return ((sums + prior * SMOOTHING) / (counts + SMOOTHING)).astype(np.float32)


def features(frame: pd.DataFrame, categorical: str, tables: TargetTables | None = None,
             training: bool = False) -> np.ndarray:
    """The model's input: integers with missing as 0 (the reference recipe's fillna),
    then, unless ``none``, the categories hashed into buckets or target-encoded."""
    parts = [frame[list(INTS)].fillna(0).to_numpy(np.float32)]
    if categorical == "hash":
        parts.append((frame[list(CATS)].to_numpy(np.uint32) % HASH_BUCKETS).astype(np.float32))
    elif categorical == "target":
        if tables is None:
            raise ValueError("target encoding needs its tables")
        enc = np.empty((len(frame), len(CATS)), dtype=np.float32)
        for k, name in enumerate(CATS):
            enc[:, k] = tables.encode(frame, name, training)
        parts.append(enc)
    return np.hstack(parts) if len(parts) > 1 else parts[0]


def metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Accuracy at 0.5, ROC AUC and log-loss of click probabilities."""
    from sklearn.metrics import log_loss, roc_auc_score

    labels = np.asarray(labels)
    scores = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
    both = len(np.unique(labels)) == 2
    return {"accuracy": float(((scores >= 0.5) == (labels == 1)).mean()) if len(labels) else 0.0,
            "auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
            "log_loss": float(log_loss(labels, scores, labels=[0, 1])) if len(labels) else 0.0}


def pandas_bytes_per_row(categorical: str, jobs: int) -> int:
    """What one row costs the pandas engine at its peak: the kept columns twice (the
    blocks and their concatenation), the float32 features, the labels, and a float64
    sample weight per tree fitted at once."""
    kept = 1 + 8 * len(INTS) + (0 if categorical == "none" else 4 * len(CATS))
    n_features = len(INTS) + (0 if categorical == "none" else len(CATS))
    at_once = (os.cpu_count() or 1) if jobs < 0 else max(1, jobs)  # -1: every core
    return 2 * kept + 4 * n_features + 8 + 8 * at_once
