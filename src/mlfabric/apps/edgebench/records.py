"""What edgebench's operations return (plain JSON fields)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlfabric.records import Record


@dataclass(frozen=True)
class ModelInfo(Record):
    """A network written into a model repository in Triton's layout."""

    name: str
    kind: str  # classification | detection
    path: str
    onnx: str
    size: int
    outputs: dict[str, list[int]]
    train_steps: int
    final_loss: float | None
    seconds: float


@dataclass(frozen=True)
class DataSetInfo(Record):
    """A generated image set."""

    path: str
    kind: str  # imagenet | coco
    size: int
    count: int
    labelled: bool
    bytes: int
    created_at: float


@dataclass(frozen=True)
class RunResult(Record):
    """One LoadGen run: its settings, what LoadGen's summary says, and where its logs are."""

    id: str
    scenario: str  # offline | singlestream | multistream
    mode: str  # performance | accuracy
    model: str
    data: str  # VOLUME[@SNAP] | DATASET:VERSION
    target: str  # local | inference:NAME[,NAME]
    servers: int
    storage: str  # local | fuse-sftp | cache-SCHEME (a cache filled from an s3/file lake)
    valid: bool | None
    result: str  # VALID | INVALID (LoadGen's words)
    samples_per_second: float | None
    p90_latency_ms: float | None
    p99_latency_ms: float | None
    mean_latency_ms: float | None
    samples_per_query: int
    queries: int | None
    load_seconds: float  # the query sample library's load from storage
    accuracy: float | None
    logs: str  # folder with mlperf_log_summary.txt, mlperf_log_detail.txt, ...
    started_at: float
    seconds: float
    notes: list[str] = field(default_factory=list)
    fetch_seconds: float = 0.0  # filling the dataset cache from its lake (0: read in place)


@dataclass(frozen=True)
class IoRow(Record):
    """One access pattern at one block size."""

    pattern: str  # sequential | random | frames
    block_bytes: int
    mib_per_second: float
    iops: float
    operations: int
    seconds: float


@dataclass(frozen=True)
class IoReport(Record):
    """``edgebench io``: read throughput and IOPS of a volume's storage."""

    volume: str
    path: str
    file_bytes: int
    rows: list[IoRow]
    cache: str  # how the page cache was kept out


@dataclass(frozen=True)
class Comparison(Record):
    """Runs of two configurations side by side: each metric's mean, its run-to-run
    spread, and the relative difference of B against A."""

    what: str  # storage | servers
    a: str
    b: str
    metric: str
    a_values: list[float]
    b_values: list[float]
    a_mean: float
    b_mean: float
    a_noise_pct: float  # (max - min) / mean of A's runs
    b_noise_pct: float
    ratio: float  # b_mean / a_mean
    difference_pct: float
    within_noise: bool  # |difference| within the larger of the two noise bands
    charts: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
