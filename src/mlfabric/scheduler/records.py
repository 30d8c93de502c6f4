"""What the scheduler's operations return (plain dataclasses, JSON-ready via ``to_dict``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlfabric.records import Record


@dataclass(frozen=True)
class NodeInfo(Record):
    """A node: GPUs, memory per GPU, pool, runtime, and what is allocated on it now."""

    name: str
    pool: str
    gpus: int
    gpu_memory: int
    runtime: str | None
    detected: bool
    created_at: float
    allocated: float = 0.0


@dataclass(frozen=True)
class NodeSync(Record):
    """What ``node sync`` changed: the cluster's nodes now in the catalog, by name."""

    runtime: str
    address: str
    added: list[str]
    updated: list[str]
    removed: list[str]
    nodes: list[NodeInfo]
    labels: dict[str, dict[str, str]]
    note: str


@dataclass(frozen=True)
class ProjectInfo(Record):
    """A project's configuration with its running and pending jobs and allocated GPUs."""

    name: str
    quota: float
    weight: float | None
    limit: float | None
    interactive_time_limit: float | None
    pool: str
    created_at: float
    allocated: float = 0.0
    running: int = 0
    pending: int = 0
    fair_share: float | None = None  # as the last scheduling cycle computed it
    uid: int | None = None  # the user its confined jobs run as (and own their files as)


@dataclass(frozen=True)
class JobInfo(Record):
    """A job: its spec, state, placements and (while pending) why it waits."""

    project: str
    name: str
    state: str
    gpus: float | None
    gpu_memory: int | None
    processes: int
    interactive: bool
    preemptible: bool
    command: list[str]
    submitted_at: float
    reason: str | None = None
    reason_code: str | None = None
    placements: list[dict[str, Any]] = field(default_factory=list)
    allocated: float = 0.0
    runtime: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    message: str | None = None
    snapshot: str | None = None
    runs: int = 0
    volumes: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    log_dir: str | None = None
    engine: str | None = None  # what its processes run as (``dask``: a Dask cluster)
    # what its running engine publishes: Dask's ``scheduler`` address and ``dashboard``
    endpoints: dict[str, str] = field(default_factory=dict)
    # the address of the node its (first) process runs on, where the runtime reports one
    # (``ray``: the Ray node's IP); None on this machine's runtimes
    node_address: str | None = None

    computed = ("ref",)

    @property
    def ref(self) -> str:
        """``project/name``."""
        return f"{self.project}/{self.name}"

    @property
    def node(self) -> str | None:
        """The node its first process runs on (None unless it runs)."""
        if self.state != "Running" or not self.placements:
            return None
        return str(self.placements[0]["node"])


@dataclass(frozen=True)
class ExecResult(Record):
    """What a command run next to a job printed (stdout and stderr, in order) and its
    exit code: ``job exec`` through the server."""

    job: str
    exit_code: int
    output: str


@dataclass
class CycleReport(Record):
    """What one scheduling cycle did."""

    at: float
    started: list[str] = field(default_factory=list)
    preempted: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    failed_to_start: list[str] = field(default_factory=list)
    pending: int = 0
    running: int = 0


@dataclass(frozen=True)
class ProjectShare(Record):
    """One project as the last scheduling cycle left it."""

    project: str
    pool: str
    fair_share: float
    allocated: float
    running: int
    pending: int


@dataclass(frozen=True)
class SchedulerStatus(Record):
    """The last scheduling cycle: when, what it did, every project's fair share, and why
    jobs wait (reason code -> pending jobs). ``at`` is None before the first cycle."""

    at: float | None
    running: int = 0
    pending: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    last_cycle: dict[str, Any] = field(default_factory=dict)
    projects: list[ProjectShare] = field(default_factory=list)
