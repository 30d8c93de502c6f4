"""The scheduler's books: jobs, projects and pools, and the moves that keep them consistent.

Every change of an allocation goes through ``Ledger.start`` or ``Ledger.release``, so the
per-GPU usage, the per-project totals and the queues always agree (``invariants`` checks).
"""

from __future__ import annotations

import bisect

from mlfabric.scheduler import reasons
from mlfabric.scheduler.instructions import Instruction, Preempt
from mlfabric.scheduler.model import (
    MILLI,
    GpuRequest,
    Job,
    JobKey,
    Node,
    Placement,
    Project,
    Reason,
    to_milli,
)
from mlfabric.scheduler.placement import Pool, Slot
from mlfabric.scheduler.preemption import Candidate
from mlfabric.scheduler.states import PENDING, RUNNING, after

EPS = 1e-6  # milli-GPUs: fair shares are floats, allocations are exact integers


class JobRecord:
    """A job and what the scheduler knows of it."""

    __slots__ = ("candidate", "fit_generation", "fits", "job", "key", "milli", "need", "order",
                 "preemptible", "reason", "req", "shape", "size", "slots", "started_at",
                 "started_cycle", "state")

    def __init__(self, job: Job, req: GpuRequest, seq: int) -> None:
        self.job = job
        self.key: JobKey = job.key
        self.req = req
        self.preemptible = job.is_preemptible
        # Within a project non-preemptible (interactive, inference) jobs go first, then FIFO.
        self.order = (self.preemptible, job.submit_time, seq)
        # Jobs of one shape in one project get the same decision while nothing changes.
        self.shape = (req.processes, req.whole, req.milli, req.memory, self.preemptible)
        self.size = 0 if req.memory else req.processes * (req.whole * MILLI or req.milli)
        self.need = self.size  # in fair-share terms, on the current pool (memory-sized vary)
        self.fits = True  # on its pool when empty, as of ``fit_generation``
        self.fit_generation: tuple[str, int] | None = None  # (pool, node generation)
        self.state = PENDING  # moves only through ``states.after``
        self.slots: list[Slot] = []
        self.milli = 0  # held now
        self.started_at: float | None = None
        self.started_cycle = -1
        self.reason: Reason | None = reasons.NEW
        self.candidate: Candidate | None = None

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    def placements(self) -> tuple[Placement, ...]:
        """Where its processes run, as reported to runtimes."""
        shared = self.req.shared
        return tuple(Placement(node, gpus, milli / MILLI if shared else None)
                     for node, gpus, milli in self.slots)


def queue_order(rec: JobRecord) -> tuple[bool, float, int]:
    """Sort key of a project's queue."""
    return rec.order


class ProjectRecord:
    """A project with its jobs and running totals (all in milli-GPUs)."""

    __slots__ = ("alloc", "fair_share", "limit", "name", "np_alloc", "pending", "project",
                 "quota", "running", "weight")

    def __init__(self, project: Project) -> None:
        self.name = project.name
        self.pending: list[JobRecord] = []  # sorted by queue_order
        self.running: dict[JobKey, JobRecord] = {}
        self.alloc = 0
        self.np_alloc = 0  # held by non-preemptible jobs
        self.fair_share = 0.0  # of the last cycle
        self.configure(project)

    def configure(self, project: Project) -> None:
        """Take on a (new) project description."""
        self.project = project
        self.quota = to_milli(project.quota)
        self.weight = float(project.over_quota_weight)
        self.limit = None if project.limit is None else to_milli(project.limit)


class Ledger:
    """All nodes, pools, projects and jobs, and the allocation moves between them."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.pools: dict[str, Pool] = {}
        self.projects: dict[str, ProjectRecord] = {}
        self.jobs: dict[JobKey, JobRecord] = {}
        self.cycle = 0  # number of the current (or last) scheduling cycle

    def pool(self, name: str) -> Pool:
        """The pool called ``name``, created empty on first use."""
        pool = self.pools.get(name)
        if pool is None:
            pool = self.pools[name] = Pool(name)
        return pool

    def start(self, rec: JobRecord, slots: list[Slot], now: float) -> None:
        """Give a pending job the GPUs in ``slots`` (the caller takes it off its queue)."""
        pr = self.projects[rec.key[0]]
        self.pool(pr.project.pool).allocate(rec.key, slots)
        rec.slots = slots
        rec.milli = sum(len(gpus) * milli for _, gpus, milli in slots)
        rec.state = after(rec.state, "started")
        rec.started_at = now
        rec.started_cycle = self.cycle
        rec.reason = None
        rec.candidate = Candidate(rec.key, rec.milli, (-rec.job.submit_time, -rec.order[2]))
        pr.running[rec.key] = rec
        pr.alloc += rec.milli
        if not rec.preemptible:
            pr.np_alloc += rec.milli

    def release(self, rec: JobRecord, event: str) -> None:
        """Take a running job's GPUs back as ``event`` says (``preempted``, ``evicted``:
        it waits again; ``stopped``, ``succeeded``...: it ended, and is dropped next)."""
        pr = self.projects[rec.key[0]]
        self.pools[pr.project.pool].release(rec.key, {node for node, _, _ in rec.slots})
        del pr.running[rec.key]
        pr.alloc -= rec.milli
        if not rec.preemptible:
            pr.np_alloc -= rec.milli
        rec.state = after(rec.state, event)
        rec.slots = []
        rec.milli = 0
        rec.started_at = None
        rec.candidate = None

    def preempt(self, rec: JobRecord, message: str, out: list[Instruction],
                by: JobKey | None = None, requeue: list[JobRecord] | None = None) -> None:
        """Release a running job and queue it again with its submit time.

        A cycle passes ``requeue`` to collect such jobs and queue them when it ends, so
        they are not offered again in the cycle that preempted them.
        """
        self.release(rec, "evicted" if by is None else "preempted")
        if by is None:
            rec.reason = reasons.evicted(message)
        else:
            rec.reason = reasons.preempted(by, own=by[0] == rec.key[0])
        if requeue is None:
            bisect.insort(self.projects[rec.key[0]].pending, rec, key=queue_order)
        else:
            requeue.append(rec)
        out.append(Preempt(rec.key[0], rec.key[1], message,
                           by[0] if by else None, by[1] if by else None))

    def drop(self, rec: JobRecord) -> None:
        """Forget a job that is not running."""
        pr = self.projects[rec.key[0]]
        if not rec.running and rec in pr.pending:
            pr.pending.remove(rec)
        del self.jobs[rec.key]
