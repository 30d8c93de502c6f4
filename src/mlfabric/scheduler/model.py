"""What the scheduler is told about (nodes, projects, jobs) and what it reports back.

All are plain frozen dataclasses, so a catalog can store them and a front end can print
them. GPU amounts are floats in GPUs at this boundary; inside, the scheduler counts
milli-GPUs (``MILLI`` per GPU) so that sums of fractions are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mlfabric.errors import InvalidInput
from mlfabric.names import validate_name
from mlfabric.units import MAX_SIZE

MILLI = 1000  # milli-GPUs per GPU
DEFAULT_POOL = "default"
# Bounds past any real cluster and well inside what the scheduler's arithmetic (GPU
# lists per node, milli-GPU sums) and the catalog's 64-bit integers hold: a value above
# is a typo, refused before it is stored (where every later cycle would trip on it).
MAX_NODE_GPUS = 1024
MAX_GPUS = 1_000_000.0  # a project's quota, weight or limit

JobKey = tuple[str, str]  # (project, job name): job names are unique within a project


@dataclass(frozen=True)
class Node:
    """A machine with ``gpus`` identical GPUs of ``gpu_memory`` bytes each (0: unknown)."""

    name: str
    gpus: int
    gpu_memory: int = 0
    pool: str = DEFAULT_POOL


@dataclass(frozen=True)
class Project:
    """A team's share of one node pool: guaranteed ``quota``, over-quota ``weight``, ``limit``.

    ``weight`` defaults to the quota; ``limit`` caps the GPUs the project may hold at
    once; interactive jobs run at most ``interactive_time_limit`` seconds.
    """

    name: str
    quota: float = 0.0
    weight: float | None = None
    limit: float | None = None
    interactive_time_limit: float | None = None
    pool: str = DEFAULT_POOL

    @property
    def over_quota_weight(self) -> float:
        """The weight used to divide capacity beyond quotas (the quota unless set)."""
        return self.quota if self.weight is None else self.weight


@dataclass(frozen=True)
class Job:
    """A request to run ``processes`` processes of one project, each with the same GPUs.

    Give ``gpus`` (a whole number, or a fraction below 1 of one shared GPU) or
    ``gpu_memory`` (bytes of one shared GPU); neither means one whole GPU. Training
    jobs are preemptible, interactive ones are not, unless ``preemptible`` says otherwise.
    """

    name: str
    project: str
    gpus: float | None = None
    gpu_memory: int | None = None
    interactive: bool = False
    preemptible: bool | None = None
    processes: int = 1
    submit_time: float = 0.0

    @property
    def is_preemptible(self) -> bool:
        """Whether the scheduler may preempt this job (default: only non-interactive ones)."""
        return (not self.interactive) if self.preemptible is None else self.preemptible

    @property
    def key(self) -> JobKey:
        """(project, name): a job's identity."""
        return (self.project, self.name)


@dataclass(frozen=True)
class Placement:
    """Where one process of a job runs: GPU indices on a node, and its share of a GPU."""

    node: str
    gpus: tuple[int, ...]
    fraction: float | None = None  # set for shared-GPU (fractional or memory-sized) jobs


@dataclass(frozen=True)
class Reason:
    """Why a job is pending: a stable ``code`` for programs and a sentence for people."""

    code: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class JobState:
    """A job as the scheduler sees it now."""

    job: Job
    status: str  # "pending" or "running"
    allocated: float = 0.0  # GPUs held now
    placements: tuple[Placement, ...] = ()
    started_at: float | None = None
    reason: Reason | None = None  # set while pending


@dataclass(frozen=True)
class ProjectState:
    """A project's configuration with its allocation and fair share of the last cycle."""

    project: Project
    allocated: float
    fair_share: float
    running: int
    pending: int


@dataclass(frozen=True)
class NodeState:
    """A node with the fraction of each GPU that is allocated."""

    node: Node
    used: tuple[float, ...] = field(default_factory=tuple)

    @property
    def free_gpus(self) -> int:
        """GPUs nobody holds any part of."""
        return sum(1 for u in self.used if u == 0)


@dataclass(frozen=True)
class GpuRequest:
    """One job's ask per process, normalised: ``whole`` GPUs, or ``milli`` / ``memory`` of one."""

    processes: int
    whole: int = 0  # whole GPUs per process
    milli: int = 0  # share of one GPU in milli-GPUs per process (fractional jobs)
    memory: int = 0  # bytes of one GPU (memory-sized jobs; the share depends on the node)

    @property
    def shared(self) -> bool:
        """Whether it takes part of one GPU (fraction or memory) rather than whole GPUs."""
        return self.whole == 0

    def milli_on(self, gpu_memory: int) -> int | None:
        """This request's share of one GPU of ``gpu_memory`` bytes (None: does not fit one)."""
        if not self.memory:
            return self.milli
        if gpu_memory < self.memory:
            return None
        return -(-self.memory * MILLI // gpu_memory)  # round up: memory is a hard need


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def to_milli(gpus: float) -> int:
    """GPUs as milli-GPUs, rounded to the nearest."""
    return round(gpus * MILLI)


def check_node(node: Node) -> Node:
    """Return ``node`` if its fields are valid, else raise ``InvalidInput``."""
    validate_name(node.name, "node name")
    validate_name(node.pool, "node pool name")
    if (not isinstance(node.gpus, int) or isinstance(node.gpus, bool)
            or not 1 <= node.gpus <= MAX_NODE_GPUS):
        raise InvalidInput(f"node '{node.name}': gpus must be a whole number of at least 1 "
                           f"and at most {MAX_NODE_GPUS}, got {node.gpus!r}", field="gpus",
                           value=node.gpus)
    if not isinstance(node.gpu_memory, int) or not 0 <= node.gpu_memory <= MAX_SIZE:
        raise InvalidInput(f"node '{node.name}': gpu_memory must be bytes (0 for unknown), "
                           f"got {node.gpu_memory!r}", field="gpu_memory", value=node.gpu_memory)
    return node


def check_project(project: Project) -> Project:
    """Return ``project`` if its fields are valid, else raise ``InvalidInput``."""
    name = validate_name(project.name, "project name")
    validate_name(project.pool, "node pool name")
    for fld in ("quota", "weight", "limit", "interactive_time_limit"):
        value = getattr(project, fld)
        if value is None and fld != "quota":
            continue
        if not _number(value) or value < 0:
            raise InvalidInput(f"project '{name}': {fld} must be a number of at least 0, "
                               f"got {value!r}", field=fld, value=value)
        if fld != "interactive_time_limit" and value > MAX_GPUS:
            raise InvalidInput(f"project '{name}': {fld} must be at most {MAX_GPUS:,.0f}, "
                               f"got {value!r}", field=fld, value=value)
    if project.limit is not None and project.limit < project.quota:
        raise InvalidInput(f"project '{name}': limit {project.limit:g} is below its quota "
                           f"{project.quota:g}", field="limit", value=project.limit)
    if project.interactive_time_limit == 0:
        raise InvalidInput(f"project '{name}': interactive_time_limit must be above 0",
                           field="interactive_time_limit", value=0)
    return project


def gpu_request(job: Job) -> GpuRequest:
    """Validate a job's GPU ask and normalise it, or raise ``InvalidInput`` saying why."""
    ref = f"job '{job.project}/{job.name}'"
    n = job.processes
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InvalidInput(f"{ref}: processes must be a whole number of at least 1, got {n!r}",
                           field="processes", value=n)
    if job.gpu_memory is not None:
        if job.gpus is not None:
            raise InvalidInput(f"{ref}: give gpus or gpu_memory, not both", field="gpus")
        mem = job.gpu_memory
        if not isinstance(mem, int) or isinstance(mem, bool) or mem <= 0:
            raise InvalidInput(f"{ref}: gpu_memory must be a positive number of bytes, "
                               f"got {mem!r}", field="gpu_memory", value=mem)
        if n > 1:
            raise InvalidInput(f"{ref}: a gpu_memory request shares one GPU and cannot have "
                               f"{n} processes; ask for whole GPUs per process instead",
                               field="processes", value=n)
        return GpuRequest(processes=1, memory=mem)
    gpus = 1 if job.gpus is None else job.gpus
    if not _number(gpus) or gpus <= 0:
        raise InvalidInput(f"{ref}: gpus must be a positive number, got {gpus!r}",
                           field="gpus", value=gpus)
    if gpus >= 1:
        if gpus != int(gpus):
            raise InvalidInput(f"{ref}: gpus {gpus:g} is neither a whole number nor a fraction "
                               "below 1", field="gpus", value=gpus)
        return GpuRequest(processes=n, whole=int(gpus))
    milli = to_milli(gpus)
    if milli < 1:
        raise InvalidInput(f"{ref}: gpus {gpus:g} is below the smallest share, 0.001",
                           field="gpus", value=gpus)
    # A gang of fractions: each process its own share, of one GPU or of several.
    return GpuRequest(processes=n, milli=min(milli, MILLI - 1))
