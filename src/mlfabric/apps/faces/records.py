"""What the face pipeline's operations return (plain JSON fields)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlfabric.records import Record


@dataclass(frozen=True)
class FacesDataset(Record):
    """A generated FDDB-format dataset."""

    path: str
    images: int
    faces: int
    folds: int
    size: int
    seed: int
    created_at: float


@dataclass(frozen=True)
class TrainReport(Record):
    """A detector trained by ``mlfabric faces train``."""

    detector: str
    dataset: str
    folds: list[int]
    images: int
    size: int
    infer_size: int
    epochs: int
    final_loss: float
    seconds: float
    finished_at: float
    adapted_tail: bool = False
    losses: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class FoldAP(Record):
    """Average precision at IoU 0.5 on one fold."""

    fold: int
    ap: float
    images: int
    faces: int
    detections: int


@dataclass(frozen=True)
class EvalReport(Record):
    """Per-fold AP, their average, and the AP of all folds pooled (mAP)."""

    dataset: str
    detector: str
    size: int
    split: str
    noisy: bool
    alpha: float | None
    folds: list[dict]
    average_ap: float
    map: float
    snr_db: float | None = None
    mean_scale: float | None = None
    noise: str | None = None
    adapted_tail: bool = False


@dataclass(frozen=True)
class SweepRow(Record):
    """One row of the alpha sweep (``kind`` is clean, learned or gaussian)."""

    kind: str
    alpha: float | None
    ap: float
    ap_adapted: float | None
    mean_scale: float | None
    snr_db: float | None
    attack_psnr: float
    attack_ssim: float
    advantage_db: float
    mi_bound_bits: float | None
    mi_knn_bits: float


@dataclass(frozen=True)
class SweepReport(Record):
    """The alpha sweep: rows, the attack's floor, and where its table and plots went."""

    dataset: str
    detector: str
    size: int
    split: str
    floor_psnr: float
    floor_ssim: float
    rows: list[dict]
    table: str
    plots: list[str]
    seconds: float
