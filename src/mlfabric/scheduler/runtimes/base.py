"""The runtime interface: how a scheduling decision becomes (or stops being) processes.

A runtime is stateless between calls: everything it needs to find a job's processes
again comes back from ``start`` as an opaque handle per process (the local runtime keeps
a pid and the kernel's start time in it) and is kept in the catalog, so any CLI process
or a restarted daemon can poll or stop what another one started. Runtimes are looked up
by name in ``RUNTIMES``; a new one proves itself with
``mlfabric.testing.runtimes.RuntimeConformance``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlfabric.errors import InvalidInput, MlfabricError
from mlfabric.scheduler.model import Node, Placement
from mlfabric.scheduler.mounts import Mounts


@dataclass(frozen=True)
class Process:
    """One started process of a job: its rank and the runtime's handle to it (JSON data
    only the runtime that made it reads)."""

    rank: int
    handle: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "handle": dict(self.handle)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Process:
        if "handle" in d:
            return Process(int(d["rank"]), dict(d["handle"] or {}))
        # rows written before handles were opaque: {rank, pid, start_time}
        return Process(int(d["rank"]), {k: v for k, v in d.items() if k != "rank"})


@dataclass(frozen=True)
class Run:
    """One run of a job as a runtime sees it: spec, placements, folders and its processes."""

    project: str
    job: str
    spec: dict[str, Any]
    placements: tuple[Placement, ...]
    job_dir: Path
    started_at: float = 0.0
    mounts: Mounts = field(default_factory=Mounts)  # what it sees: volumes, datasets, env
    node_memory: dict[str, int] = field(default_factory=dict)  # node -> bytes per GPU
    processes: tuple[Process, ...] = ()
    uid: int | None = None  # its project's uid: a confining runtime runs it as that user

    @property
    def work_dir(self) -> Path:
        """The job's working directory (volume links live here)."""
        return self.job_dir / "work"

    def log_path(self, rank: int) -> Path:
        """Where process ``rank`` writes stdout and stderr."""
        return self.job_dir / f"rank-{rank}.log"


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``Succeeded``, ``Failed`` or ``Lost``, with an exit code if known."""

    state: str
    exit_code: int | None = None
    message: str | None = None


@dataclass(frozen=True)
class Cluster:
    """A cluster's live nodes as a runtime found them, with each one's labels."""

    address: str
    nodes: tuple[Node, ...]
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    note: str = ""


def judge(codes: dict[int, int | bool | None], leader: int | None = None) -> Outcome | None:
    """How a run ended from each rank's exit code (None: still running; False: vanished
    without one): any vanished rank loses it, any failed rank fails it, all zero succeed.
    A run with a ``leader`` rank (the others serve it: a Dask cluster's scheduler and
    workers for its command) ends when that rank does, with its code alone."""
    if leader is not None and leader in codes:
        codes = {leader: codes[leader]}
    lost = [rank for rank, code in codes.items() if code is False]
    if lost:
        ranks = ", ".join(str(r) for r in lost)
        return Outcome("Lost", None, f"process(es) of rank {ranks} vanished "
                                     "without an exit code")
    failed = [c for c in codes.values() if c is not None and c != 0]
    if failed:
        return Outcome("Failed", int(failed[0]))
    if all(c is not None for c in codes.values()):
        return Outcome("Succeeded", 0)
    return None


class Runtime(ABC):
    """Starts, polls and stops the processes of scheduled jobs.

    ``capabilities`` says what a conformance suite may expect: ``processes`` (it runs
    the command as real processes, with their exit codes).
    """

    name: str = "runtime"
    capabilities: frozenset[str] = frozenset()

    @abstractmethod
    def start(self, run: Run) -> tuple[Process, ...]:
        """Start every process of ``run``; return what identifies them later."""

    def start_all(self, runs: Sequence[Run]) -> list[tuple[Process, ...] | MlfabricError]:
        """Start several runs (a cycle's placements), each as ``start`` would; a run
        that could not start gets its error in its place, the others start. One after
        another here; a runtime whose starts wait (Ray: a worker process per actor)
        overlaps them."""
        out: list[tuple[Process, ...] | MlfabricError] = []
        for run in runs:
            try:
                out.append(self.start(run))
            except MlfabricError as exc:
                out.append(exc)
            except OSError as exc:
                out.append(MlfabricError(str(exc)))
        return out

    @abstractmethod
    def poll(self, run: Run, now: float) -> Outcome | None:
        """None while the run goes on; how it ended once every process is gone."""

    @abstractmethod
    def stop(self, run: Run, grace_s: float) -> None:
        """Stop the run's processes: ask politely, wait ``grace_s``, then force."""

    def alive(self, run: Run) -> bool:
        """Whether every process of the run is the one started and still runs (a process
        that ended, with a code or without, is not alive)."""
        return self.poll(run, now=run.started_at) is None

    def pid(self, process: Process) -> int | None:
        """The OS process id behind ``process`` on this machine, if there is one."""
        return None

    def address(self, process: Process) -> str | None:
        """The address of the node ``process`` runs on, where the runtime knows one that
        differs from this machine's (what a service it runs is reached at)."""
        return None

    def cache_pool(self, run: Run) -> str | None:
        """The cache pool the datasets of ``run`` are leased from on the node it is placed
        on (a gang: its rank 0's); None: the default pool."""
        return None

    def discover(self, home: Path, address: str | None) -> Cluster:
        """The nodes of the cluster this runtime runs on (``address``: where it is; kept
        in ``home`` for later cycles). Runtimes without a cluster have none to find."""
        raise InvalidInput(f"the {self.name} runtime has no cluster to discover nodes in "
                           "(node sync works with the ray runtime)", field="runtime",
                           value=self.name)

    def read_log(self, run: Run, rank: int, offset: int) -> bytes:
        """What process ``rank`` of ``run`` has written from ``offset`` on (its log file)."""
        try:
            with open(run.log_path(rank), "rb") as f:
                f.seek(offset)
                return f.read()
        except FileNotFoundError:
            return b""

    def exec_command(self, run: Run, command: list[str]) -> tuple[list[str], dict[str, str],
                                                                   Path | None]:
        """How to run ``command`` next to the running ``run``, where its processes run
        (as they run: confined or not): the argv, the environment and the folder."""
        raise InvalidInput(f"job '{run.project}/{run.job}' runs on the {self.name} runtime, "
                           "which has no processes to run a command next to",
                           field="job", value=run.job)
