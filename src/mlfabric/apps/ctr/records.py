"""What the click-through-rate pipeline's operations return (plain JSON fields)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlfabric.records import Record


@dataclass(frozen=True)
class CtrDataset(Record):
    """Generated click logs in the Criteo Terabyte format."""

    path: str
    rows: int
    days: int
    shards: int
    bytes: int
    seed: int
    positive_rate: float
    bayes_auc: float  # the AUC of the true click probabilities: no model can beat it
    bayes_log_loss: float
    seconds: float
    volume: str | None = None
    snapshot: str | None = None  # VOLUME@SNAPSHOT taken after writing (with --to-volume)


@dataclass(frozen=True)
class TrainResult(Record):
    """One training run: its metrics on held-out rows and where it was recorded."""

    run: str
    engine: str  # pandas or dask
    model: str  # rf or xgboost
    data: str
    rows: int  # rows read (train + held out)
    train_rows: int
    test_rows: int
    accuracy: float
    auc: float
    log_loss: float
    read_seconds: float
    train_seconds: float
    seconds: float  # read + train + score (not starting a cluster or loading modules)
    malformed: int
    categorical: str  # none, hash or target
    workers: int = 1
    bayes_auc: float | None = None
    data_version: str | None = None
    dashboard: str | None = None
    scheduler: str | None = None
    memory_budget: int | None = None
    estimate: int | None = None  # the memory guard's estimate (pandas)
    out: str | None = None  # folder with model, metrics and shard reports
    snapshot: str | None = None  # VOLUME@SNAPSHOT of the output volume
    finished_at: float = 0.0
    shard_reports: list[dict] = field(default_factory=list)  # shards with skipped lines


@dataclass(frozen=True)
class ReportResult(Record):
    """Both engines at equal rows, the largest rows each handles in a budget, the plot."""

    data: str
    rows: list[int]
    runs: list[dict]
    largest: dict  # engine -> largest rows it trained within the budget
    memory_budget: int | None
    plot: str
    table: str
    seconds: float
