"""One scheduling cycle against the catalog, and the daemon that repeats it.

A cycle, under the exclusive scheduler lock: load nodes, projects and active jobs;
rebuild the pure ``Scheduler`` (Submit every active job with its original submit time,
Resume the running ones); apply the caller's events; poll the runtimes for ended runs
(``Finish``); ``Tick(now)``; carry out the instructions through the runtimes; persist
states, placements and pending reasons in one write transaction.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, select, update

from mlfabric.catalog import scheduler_schema as S
from mlfabric.errors import MlfabricError
from mlfabric.home import Home, open_home
from mlfabric.locks import file_lock
from mlfabric.scheduler import clusters, jobstore, mounts
from mlfabric.scheduler.events import (
    AddNode,
    AddProject,
    Delete,
    Event,
    Finish,
    Resume,
    Submit,
    Tick,
)
from mlfabric.scheduler.instructions import Instruction, Preempt, Start, Stop
from mlfabric.scheduler.policy import Scheduler
from mlfabric.scheduler.records import CycleReport
from mlfabric.scheduler.runtimes import Process, Run, default_runtime, get_runtime
from mlfabric.scheduler.states import ACTIVE, after

Clock = Callable[[], float]
LOCK_WAIT_S = 300.0


@dataclass
class _Change:
    """Columns to write for one job row at the end of the cycle."""

    values: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, str | None]] = field(default_factory=list)


class Cycle:
    """One cycle's working state: the rebuilt scheduler and the row changes it makes."""

    def __init__(self, st: Home, now: float, grace_s: float) -> None:
        self.st = st
        self.home = str(st.config.home)
        self.now = now
        self.grace_s = grace_s
        self.sched = Scheduler()
        self.rows: dict[tuple[str, str], Any] = {}
        self.node_rows: dict[str, Any] = {}
        self.uids: dict[str, int] = {}  # project -> the uid its jobs run as
        self.changes: dict[tuple[str, str], _Change] = {}
        self.report = CycleReport(at=now)

    def change(self, key: tuple[str, str], **values: Any) -> None:
        """Columns to write for a job at the end of the cycle."""
        self.changes.setdefault(key, _Change()).values.update(values)

    def move(self, key: tuple[str, str], event: str, note: str | None = None,
             **values: Any) -> None:
        """Record ``event`` in the job's history and move its state as the transition
        table says (the same table the ledger follows)."""
        ch = self.changes.setdefault(key, _Change())
        state = after(ch.values.get("state", self.rows[key].state), event)
        ch.values.update(values, state=state)
        ch.events.append((event, note))

    def run_of(self, key: tuple[str, str]) -> Run:
        memory = {n: r.gpu_memory or 0 for n, r in self.node_rows.items()}
        return jobstore.to_run(self.rows[key], self.st.config.home, memory,
                               self.uids.get(key[0]))

    # -- loading ---------------------------------------------------------------------------
    def load(self, conn: Connection) -> None:
        sched = self.sched
        for row in conn.execute(select(S.nodes).order_by(S.nodes.c.name)):
            self.node_rows[row.name] = row
            sched.handle(AddNode(jobstore.to_node(row)))
        for row in conn.execute(select(S.projects).order_by(S.projects.c.name)):
            self.uids[row.name] = row.uid
            sched.handle(AddProject(jobstore.to_project(row)))
        rows = conn.execute(select(S.jobs).where(S.jobs.c.state.in_(ACTIVE))
                            .order_by(S.jobs.c.submit_time, S.jobs.c.id)).all()
        for row in rows:
            self.rows[(row.project, row.name)] = row
            sched.handle(Submit(jobstore.to_job(row)))
        for row in rows:
            if row.state == "Running":
                self._resume(row)

    def _resume(self, row: Any) -> None:
        key = (row.project, row.name)
        try:
            self.sched.handle(Resume(row.project, row.name, jobstore.placements_of(row),
                                     row.started_at or self.now))
        except MlfabricError as exc:
            # Its node left or changed, or the project moved pools: evict and requeue.
            self._end_run(key)
            self.move(key, "evicted", str(exc), placements=None, processes=None)
            self.report.preempted.append(f"{key[0]}/{key[1]}")

    # -- runtime side ----------------------------------------------------------------------
    def _end_run(self, key: tuple[str, str], stop: bool = True) -> None:
        row = self.rows[key]
        if stop and row.runtime:
            get_runtime(row.runtime).stop(self.run_of(key), self.grace_s)
        mounts.release(self.home, key[0], key[1], row.spec)

    def poll(self, deleted: set[tuple[str, str]]) -> list[Event]:
        events: list[Event] = []
        for key, row in self.rows.items():
            if row.state != "Running" or key in deleted or key in self.changes:
                continue
            outcome = get_runtime(row.runtime or "sim").poll(self.run_of(key), self.now)
            if outcome is None:
                continue
            events.append(Finish(*key, outcome.state.lower()))
            self._end_run(key, stop=False)
            ref = f"{key[0]}/{key[1]}"
            values: dict[str, Any] = {"exit_code": outcome.exit_code,
                                      "finished_at": self.now, "message": outcome.message}
            target = row.spec.get("snapshot_on_complete")
            if outcome.state == "Succeeded" and target:
                try:
                    values["snapshot"] = mounts.complete(self.home, target, *key)
                except MlfabricError as exc:
                    values["message"] = f"snapshot of volume {target} failed: {exc}"
            self.move(key, outcome.state.lower(), outcome.message, **values)
            (self.report.lost if outcome.state == "Lost" else self.report.finished).append(ref)
        return events

    def execute(self, out: list[Instruction], deleted: set[tuple[str, str]]) -> None:
        starts = []
        for ins in out:  # stops and preemptions free GPUs first; the starts come after
            key = (ins.project, ins.job)
            ref = f"{ins.project}/{ins.job}"
            if isinstance(ins, Stop):
                self._end_run(key)
                if key not in deleted:
                    self.move(key, "stopped", ins.reason, finished_at=self.now,
                              message=ins.reason)
                self.report.stopped.append(ref)
            elif isinstance(ins, Preempt):
                self._end_run(key)
                by = f" by {ins.by_project}/{ins.by_job}" if ins.by_job else ""
                self.move(key, "preempted", f"{ins.reason}{by}", placements=None,
                          processes=None)
                self.report.preempted.append(ref)
            else:
                starts.append(ins)
        self._start_all(starts)

    def _start_all(self, starts: list[Start]) -> None:
        """Start the placed jobs, each runtime's together (their starts may overlap),
        and record each as started or failed, in the order they were placed."""
        prepared: dict[tuple[str, str], tuple[str, Run]] = {}
        failed: dict[tuple[str, str], tuple[str, Exception]] = {}
        for ins in starts:
            key = (ins.project, ins.job)
            row = self.rows[key]
            node = self.node_rows.get(ins.placements[0].node) if ins.placements else None
            runtime = (node.runtime if node is not None and node.runtime else None) \
                or default_runtime()
            run = replace(self.run_of(key), placements=ins.placements, started_at=self.now)
            try:
                rt = get_runtime(runtime)
                # its datasets are cached on its node's pool before it starts
                pool = rt.cache_pool(run) if row.spec.get("datasets") else None
                run = replace(run, mounts=mounts.acquire(self.home, key[0], key[1], row.spec,
                                                         pool=pool))
            except (MlfabricError, OSError) as exc:
                failed[key] = (runtime, exc)
                continue
            prepared[key] = (runtime, run)
        by_runtime: dict[str, list[tuple[str, str]]] = {}
        for key, (runtime, _) in prepared.items():
            by_runtime.setdefault(runtime, []).append(key)
        started: dict[tuple[str, str], tuple[Process, ...]] = {}
        for runtime, keys in by_runtime.items():
            results = get_runtime(runtime).start_all([prepared[k][1] for k in keys])
            for key, result in zip(keys, results, strict=True):
                if isinstance(result, MlfabricError):
                    failed[key] = (runtime, result)
                else:
                    started[key] = result
        for ins in starts:
            key = (ins.project, ins.job)
            if key in started:
                self._started(key, ins, prepared[key][0], started[key])
            else:
                self._failed_to_start(key, *failed[key])

    def _failed_to_start(self, key: tuple[str, str], runtime: str, exc: Exception) -> None:
        row = self.rows[key]
        mounts.release(self.home, key[0], key[1], row.spec)
        self.sched.handle(Finish(*key, "failed"))
        self.move(key, "failed", f"could not start: {exc}", finished_at=self.now,
                  message=f"could not start: {exc}", runtime=runtime)
        self.report.failed_to_start.append(f"{key[0]}/{key[1]}")

    def _started(self, key: tuple[str, str], ins: Start, runtime: str,
                 procs: tuple[Process, ...]) -> None:
        row = self.rows[key]
        self.move(key, "started", None, runtime=runtime,
                  placements=jobstore.placements_json(ins.placements),
                  processes=[p.to_dict() for p in procs], started_at=self.now,
                  finished_at=None, exit_code=None, message=None, runs=(row.runs or 0) + 1)
        self.report.started.append(f"{key[0]}/{key[1]}")

    # -- persisting ------------------------------------------------------------------------
    def persist(self, conn: Connection, drop: set[tuple[str, str]]) -> None:
        J = S.jobs
        for key in self.rows:
            if key in drop:
                continue
            state = self.sched.job(*key) if _known(self.sched, key) else None
            if state is not None and state.status == "pending" and state.reason is not None:
                self.change(key, reason=state.reason.message, reason_code=state.reason.code)
        for key, ch in self.changes.items():
            if key in drop:
                continue
            if ch.values:
                conn.execute(update(J).where(J.c.project == key[0], J.c.name == key[1])
                             .values(**ch.values))
            for kind, message in ch.events:
                jobstore.record_event(conn, key[0], key[1], self.now, kind, message)
        for key in drop:
            conn.execute(delete(J).where(J.c.project == key[0], J.c.name == key[1]))
            jobstore.record_event(conn, key[0], key[1], self.now, "deleted", None)
        running = pending = 0
        reasons: dict[str, int] = {}
        for js in self.sched.jobs():
            running += js.status == "running"
            pending += js.status == "pending"
            if js.status == "pending" and js.reason is not None:
                reasons[js.reason.code] = reasons.get(js.reason.code, 0) + 1
        self.report.running, self.report.pending = running, pending
        self._persist_status(conn, reasons)

    def _persist_status(self, conn: Connection, reasons: dict[str, int]) -> None:
        """Save what this cycle decided: each project's fair share and allocation, and
        why jobs wait. Readers show these numbers instead of recomputing them."""
        shares = S.project_shares
        conn.execute(delete(shares))
        for ps in self.sched.projects():
            conn.execute(shares.insert().values(
                project=ps.project.name, pool=ps.project.pool, fair_share=ps.fair_share,
                allocated=ps.allocated, running=ps.running, pending=ps.pending, at=self.now))
        cycles = S.scheduler_cycles
        values = {"at": self.now, "running": self.report.running,
                  "pending": self.report.pending, "reasons": reasons,
                  "report": self.report.to_dict()}
        if conn.execute(update(cycles).where(cycles.c.id == 1).values(**values)).rowcount == 0:
            conn.execute(cycles.insert().values(id=1, **values))


def _known(sched: Scheduler, key: tuple[str, str]) -> bool:
    try:
        sched.job(*key)
    except MlfabricError:
        return False
    return True


def cycle(*, home: str | None = None, events: Sequence[Event] = (),
          drop: Sequence[tuple[str, str]] = (), clock: Clock = time.time,
          grace_s: float | None = None, lock_wait_s: float = LOCK_WAIT_S) -> CycleReport:
    """Run one scheduling cycle; ``events`` (e.g. ``Delete``) are applied first and the
    ``drop`` job rows (project, name) are removed with the cycle's other changes.
    ``Busy`` if another cycle holds the scheduler for longer than ``lock_wait_s``."""
    st = open_home(home)
    grace = jobstore.preempt_grace() if grace_s is None else grace_s
    with file_lock(st.config.locks_dir / "scheduler.lock", wait_s=lock_wait_s,
                   what="the scheduler"):
        clusters.refresh(st)  # nodes that joined or left a cluster since
        cyc = Cycle(st, clock(), grace)
        st.catalog.run_read(cyc.load)
        out: list[Instruction] = list(cyc.sched.handle(*events))
        deleted = {(e.project, e.name) for e in events if isinstance(e, Delete)}
        out += cyc.sched.handle(*cyc.poll(deleted))
        out += cyc.sched.handle(Tick(cyc.now))
        cyc.execute(out, deleted)
        st.catalog.run_write(lambda conn: cyc.persist(conn, set(drop) | deleted))
        return cyc.report


def run_daemon(*, home: str | None = None, interval_s: float = 1.0,
               grace_s: float | None = None, clock: Clock = time.time,
               stop: threading.Event | None = None, max_cycles: int | None = None,
               on_cycle: Callable[[CycleReport], None] | None = None) -> int:
    """Run cycles every ``interval_s`` until SIGTERM/SIGINT (or ``stop``); returns cycles run.

    Safe to kill -9: all state is in the catalog, and the next daemon re-adopts running
    processes (same pid and kernel start time) or marks them Lost.
    """
    stop = stop or threading.Event()
    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, lambda *_: stop.set())
    count = 0
    try:
        while not stop.is_set() and (max_cycles is None or count < max_cycles):
            report = cycle(home=home, clock=clock, grace_s=grace_s)
            count += 1
            if on_cycle is not None:
                on_cycle(report)
            stop.wait(interval_s)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return count


def step(*, home: str | None = None, grace_s: float | None = None) -> CycleReport:
    """Run one scheduling cycle now."""
    return cycle(home=home, grace_s=grace_s)


def job_dir(home: str | None, project: str, job: str) -> Path:
    """Where a job's logs and working directory live."""
    return jobstore.job_dir(open_home(home).config.home, project, job)


__all__ = ["Cycle", "cycle", "job_dir", "run_daemon", "step"]
