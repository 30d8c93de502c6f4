"""What the lane pipeline's operations return (plain JSON fields)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlfabric.records import Record


@dataclass(frozen=True)
class LanesDataset(Record):
    """A generated TuSimple-format dataset; ``version`` is its content fingerprint."""

    path: str
    images: int
    splits: dict[str, int]
    width: int
    height: int
    seed: int
    version: str
    created_at: float


@dataclass(frozen=True)
class Metrics(Record):
    """TuSimple's metrics on one split (the pixel threshold in the pictures' pixels)."""

    split: str
    accuracy: float
    fp: float
    fn: float
    pictures: int
    pixel_thresh: float
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainReport(Record):
    """A training run: where its checkpoint is, how far it went, what it scored."""

    out: str
    data: str
    dataset_version: str
    epochs: int
    resumed_from: int  # the epoch of the checkpoint it started from (0: from scratch)
    world_size: int
    backend: str | None
    images: int
    seconds_per_epoch: list[float]
    losses: list[float]
    metrics: dict
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RetrainReport(Record):
    """``lanes retrain``: the clone, the checkpoint's metrics reproduced, the new run."""

    source: str  # VOLUME@SNAPSHOT
    volume: str
    recorded: dict
    reproduced: dict
    train: dict


@dataclass(frozen=True)
class Lineage(Record):
    """job -> snapshot -> dataset version -> model metrics, and clones made from it."""

    job: str
    state: str
    volumes: list[str]
    datasets: list[str]
    snapshot: str | None
    snapshot_created_at: float | None = None
    snapshot_files: int | None = None
    snapshot_bytes: int | None = None
    dataset_version: str | None = None
    dataset: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    clones: list[str] = field(default_factory=list)
