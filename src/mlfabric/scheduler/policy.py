"""The scheduler's decision core: a pure state machine, events in, instructions out.

``Scheduler.handle(*events)`` checks each event, applies it to the ledger and returns the
instructions for a runtime. Only ``Tick`` runs a scheduling cycle (see ``cycle``); other
events may stop or preempt the jobs they affect. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from mlfabric.errors import AlreadyExists, Busy, InvalidInput, NotFound
from mlfabric.names import validate_name
from mlfabric.scheduler import invariants
from mlfabric.scheduler.cycle import run_cycle
from mlfabric.scheduler.events import (
    AddNode,
    AddProject,
    Delete,
    Event,
    Finish,
    RemoveNode,
    RemoveProject,
    Resume,
    Submit,
    Tick,
    UpdateNode,
    UpdateProject,
)
from mlfabric.scheduler.instructions import Instruction, Stop
from mlfabric.scheduler.model import (
    MILLI,
    JobState,
    NodeState,
    ProjectState,
    check_node,
    check_project,
    gpu_request,
)
from mlfabric.scheduler.placement import Slot
from mlfabric.scheduler.state import JobRecord, Ledger, ProjectRecord, queue_order
from mlfabric.units import format_duration


class Scheduler:
    """GPU workload scheduler state; feed it events with ``handle``, execute what it returns.

    With ``validate=True`` every event is followed by ``validate()`` (for tests).
    """

    def __init__(self, *, validate: bool = False) -> None:
        self._validate = validate
        self._ledger = Ledger()
        self._seq = 0
        self._now: float | None = None
        self._last_reclaims: set[tuple[str, str]] = set()  # (reclaimer, victim) projects
        self._handlers: dict[type, Callable[..., None]] = {
            AddNode: self._add_node, UpdateNode: self._update_node,
            RemoveNode: self._remove_node, AddProject: self._add_project,
            UpdateProject: self._update_project, RemoveProject: self._remove_project,
            Submit: self._submit, Delete: self._delete, Finish: self._finish,
            Resume: self._resume, Tick: self._tick,
        }

    # -- driving ---------------------------------------------------------------------------
    def handle(self, *events: Event) -> list[Instruction]:
        """Apply ``events`` in order and return the instructions they produce.

        An invalid event raises (InvalidInput, NotFound, AlreadyExists, Busy) before it
        changes anything; the events before it stay applied.
        """
        out: list[Instruction] = []
        for event in events:
            handler = self._handlers.get(type(event))
            if handler is None:
                raise InvalidInput(f"unknown scheduler event {event!r}", field="event")
            handler(event, out)
            if self._validate:
                self.validate()
        return out

    def validate(self) -> None:
        """Raise AssertionError if the books are inconsistent (tests switch this on)."""
        found = invariants.problems(self._ledger)
        if found:
            raise AssertionError("scheduler invariants broken:\n  " + "\n  ".join(found))

    # -- queries ---------------------------------------------------------------------------
    def job(self, project: str, name: str) -> JobState:
        """One job's state."""
        return _job_state(self._rec(project, name))

    def jobs(self, project: str | None = None) -> list[JobState]:
        """All jobs (of one project), running and pending, in queue order."""
        ledger = self._ledger
        projects = [self._project(project)] if project else list(ledger.projects.values())
        out: list[JobState] = []
        for pr in projects:
            recs = sorted([*pr.running.values(), *pr.pending], key=queue_order)
            out += [_job_state(r) for r in recs]
        return out

    def why_pending(self, project: str, name: str) -> str | None:
        """Why a job is not running (None if it is)."""
        rec = self._rec(project, name)
        return None if rec.running or rec.reason is None else rec.reason.message

    def project(self, name: str) -> ProjectState:
        """One project's allocation and fair share (as of the last cycle)."""
        pr = self._project(name)
        return ProjectState(pr.project, pr.alloc / MILLI, pr.fair_share / MILLI,
                            len(pr.running), len(pr.pending))

    def projects(self) -> list[ProjectState]:
        """Every project, by name."""
        return [self.project(n) for n in sorted(self._ledger.projects)]

    def allocated(self, project: str) -> float:
        """GPUs a project holds now."""
        return self._project(project).alloc / MILLI

    def nodes(self) -> list[NodeState]:
        """Every node with the allocated share of each GPU, by name."""
        ledger = self._ledger
        out = []
        for name in sorted(ledger.nodes):
            load = ledger.pools[ledger.nodes[name].pool].loads[name]
            out.append(NodeState(load.node, tuple(u / MILLI for u in load.used)))
        return out

    # -- nodes -----------------------------------------------------------------------------
    def _add_node(self, ev: AddNode, out: list[Instruction]) -> None:
        node = check_node(ev.node)
        if node.name in self._ledger.nodes:
            raise AlreadyExists("node", node.name)
        self._ledger.nodes[node.name] = node
        self._ledger.pool(node.pool).add_node(node)

    def _update_node(self, ev: UpdateNode, out: list[Instruction]) -> None:
        ledger = self._ledger
        node = check_node(ev.node)
        old = ledger.nodes.get(node.name)
        if old is None:
            raise NotFound("node", node.name)
        load = ledger.pools[old.pool].loads[node.name]
        moved = old.pool != node.pool
        resized = old.gpu_memory != node.gpu_memory  # memory-sized shares change
        for key, allocs in list(load.jobs.items()):
            if (moved or any(gpu >= node.gpus for gpu, _ in allocs)
                    or (resized and ledger.jobs[key].req.memory)):
                ledger.preempt(ledger.jobs[key], f"node {node.name} changed", out)
        kept = {key: list(allocs) for key, allocs in load.jobs.items()}
        ledger.pools[old.pool].remove_node(node.name)
        ledger.nodes[node.name] = node
        new_load = ledger.pool(node.pool).add_node(node)
        for key, allocs in kept.items():
            for gpu, milli in allocs:
                new_load.take(key, gpu, milli)

    def _remove_node(self, ev: RemoveNode, out: list[Instruction]) -> None:
        ledger = self._ledger
        node = ledger.nodes.get(ev.name)
        if node is None:
            raise NotFound("node", ev.name)
        pool = ledger.pools[node.pool]
        for key in list(pool.loads[node.name].jobs):
            ledger.preempt(ledger.jobs[key], f"node {node.name} removed", out)
        pool.remove_node(node.name)
        del ledger.nodes[node.name]

    # -- projects --------------------------------------------------------------------------
    def _add_project(self, ev: AddProject, out: list[Instruction]) -> None:
        project = check_project(ev.project)
        if project.name in self._ledger.projects:
            raise AlreadyExists("project", project.name)
        self._ledger.projects[project.name] = ProjectRecord(project)

    def _update_project(self, ev: UpdateProject, out: list[Instruction]) -> None:
        project = check_project(ev.project)
        pr = self._project(project.name)
        if project.pool != pr.project.pool:
            for rec in list(pr.running.values()):
                self._ledger.preempt(rec, f"project {pr.name} moved to pool {project.pool}",
                                     out)
        pr.configure(project)

    def _remove_project(self, ev: RemoveProject, out: list[Instruction]) -> None:
        pr = self._project(ev.name)
        count = len(pr.running) + len(pr.pending)
        if count:
            raise Busy(f"project '{ev.name}' has {count} job(s); delete them first",
                       resource=ev.name)
        del self._ledger.projects[ev.name]

    # -- jobs ------------------------------------------------------------------------------
    def _submit(self, ev: Submit, out: list[Instruction]) -> None:
        job = ev.job
        pr = self._project(job.project)
        validate_name(job.name, "job name")
        req = gpu_request(job)
        if not isinstance(job.submit_time, int | float) or isinstance(job.submit_time, bool):
            raise InvalidInput(f"job '{job.project}/{job.name}': submit_time must be a number",
                               field="submit_time", value=job.submit_time)
        if job.key in self._ledger.jobs:
            raise AlreadyExists("job", f"{job.project}/{job.name}")
        self._seq += 1
        rec = JobRecord(job, req, self._seq)
        self._ledger.jobs[rec.key] = rec
        bisect.insort(pr.pending, rec, key=queue_order)

    def _delete(self, ev: Delete, out: list[Instruction]) -> None:
        rec = self._rec(ev.project, ev.name)
        if rec.running:
            self._ledger.release(rec, "stopped")
            out.append(Stop(ev.project, ev.name, "deleted"))
        self._ledger.drop(rec)

    def _finish(self, ev: Finish, out: list[Instruction]) -> None:
        rec = self._rec(ev.project, ev.name)
        if not rec.running:
            raise InvalidInput(f"job '{ev.project}/{ev.name}' is not running, so it cannot "
                               "finish", field="job", value=ev.name)
        self._ledger.release(rec, ev.outcome)
        self._ledger.drop(rec)

    def _resume(self, ev: Resume, out: list[Instruction]) -> None:
        rec = self._rec(ev.project, ev.name)
        pr = self._ledger.projects[ev.project]
        ref = f"job '{ev.project}/{ev.name}'"
        if rec.running:
            raise InvalidInput(f"{ref} is already running", field="job", value=ev.name)
        if len(ev.placements) != rec.req.processes:
            raise InvalidInput(f"{ref} has {rec.req.processes} process(es) but "
                               f"{len(ev.placements)} placement(s)", field="placements")
        pool = self._ledger.pool(pr.project.pool)
        planned: dict[tuple[str, int], int] = {}
        slots: list[Slot] = []
        for pl in ev.placements:
            load = pool.loads.get(pl.node)
            if load is None:
                raise InvalidInput(f"{ref}: node '{pl.node}' is not in pool {pool.name}",
                                   field="placements", value=pl.node)
            milli = rec.req.milli_on(load.node.gpu_memory) if rec.req.shared else MILLI
            want = rec.req.whole or 1
            if milli is None or len(pl.gpus) != want or len(set(pl.gpus)) != want:
                raise InvalidInput(f"{ref}: placement {pl} does not match its request",
                                   field="placements")
            for gpu in pl.gpus:
                if not 0 <= gpu < load.node.gpus:
                    raise InvalidInput(f"{ref}: node '{pl.node}' has no GPU {gpu}",
                                       field="placements")
                used = planned.get((pl.node, gpu), load.used[gpu])
                if used + milli > MILLI or (not rec.req.shared and used):
                    raise InvalidInput(f"{ref}: GPU {gpu} of node '{pl.node}' is taken",
                                       field="placements")
                planned[(pl.node, gpu)] = used + milli
            slots.append((pl.node, tuple(pl.gpus), milli))
        pr.pending.remove(rec)
        self._ledger.start(rec, slots, ev.started_at)

    # -- the cycle -------------------------------------------------------------------------
    def _tick(self, ev: Tick, out: list[Instruction]) -> None:
        now = ev.now
        if not isinstance(now, int | float) or isinstance(now, bool):
            raise InvalidInput(f"tick time must be a number, got {now!r}", field="now")
        if self._now is not None and now < self._now:
            raise InvalidInput(f"tick time {now} is before the previous tick {self._now}",
                               field="now", value=now)
        self._now = now
        ledger = self._ledger
        ledger.cycle += 1
        self._expire(now, out)
        by_pool: dict[str, list[ProjectRecord]] = {}
        for pr in ledger.projects.values():
            by_pool.setdefault(pr.project.pool, []).append(pr)
        reclaims: set[tuple[str, str]] = set()
        for name in sorted(by_pool):
            run_cycle(ledger, name, by_pool[name], now, out, reclaims, self._last_reclaims)
        self._last_reclaims = reclaims

    def _expire(self, now: float, out: list[Instruction]) -> None:
        """Stop interactive jobs that ran their project's time limit since they last started."""
        for pr in self._ledger.projects.values():
            limit = pr.project.interactive_time_limit
            if limit is None:
                continue
            for rec in list(pr.running.values()):
                started = rec.started_at
                if rec.job.interactive and started is not None and now - started >= limit:
                    self._ledger.release(rec, "stopped")
                    self._ledger.drop(rec)
                    out.append(Stop(pr.name, rec.key[1], "interactive time limit exceeded "
                                                         f"({format_duration(limit)})"))

    # -- lookups ---------------------------------------------------------------------------
    def _project(self, name: str) -> ProjectRecord:
        pr = self._ledger.projects.get(name)
        if pr is None:
            raise NotFound("project", name)
        return pr

    def _rec(self, project: str, name: str) -> JobRecord:
        self._project(project)
        rec = self._ledger.jobs.get((project, name))
        if rec is None:
            raise NotFound("job", f"{project}/{name}")
        return rec


def _job_state(rec: JobRecord) -> JobState:
    if not rec.running:
        return JobState(rec.job, "pending", reason=rec.reason)
    return JobState(rec.job, "running", rec.milli / MILLI, rec.placements(), rec.started_at)
