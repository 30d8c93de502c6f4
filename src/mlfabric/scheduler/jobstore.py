"""Catalog rows of the scheduler as core objects (``Node``, ``Project``, ``Job``) and back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from mlfabric.catalog import named_row
from mlfabric.catalog import scheduler_schema as S
from mlfabric.errors import InvalidInput, NotFound
from mlfabric.scheduler import engines
from mlfabric.scheduler.model import Job, Node, Placement, Project
from mlfabric.scheduler.records import JobInfo, NodeInfo, ProjectInfo
from mlfabric.scheduler.runtimes.base import Process, Run
from mlfabric.units import parse_duration

DEFAULT_GRACE_S = 10.0


def preempt_grace() -> float:
    """Seconds between SIGTERM and SIGKILL (``$MLFABRIC_PREEMPT_GRACE``, default 10s)."""
    raw = os.environ.get("MLFABRIC_PREEMPT_GRACE", "").strip()
    return parse_duration(raw) if raw else DEFAULT_GRACE_S


def to_node(row: Any) -> Node:
    return Node(row.name, gpus=row.gpus, gpu_memory=row.gpu_memory or 0, pool=row.pool)


def to_project(row: Any) -> Project:
    return Project(row.name, quota=row.quota, weight=row.weight, limit=row.gpu_limit,
                   interactive_time_limit=row.interactive_time_limit, pool=row.pool)


def to_job(row: Any) -> Job:
    spec = row.spec
    return Job(row.name, row.project, gpus=spec.get("gpus"), gpu_memory=spec.get("gpu_memory"),
               interactive=bool(spec.get("interactive")), preemptible=spec.get("preemptible"),
               processes=int(spec.get("processes") or 1), submit_time=row.submit_time)


def placements_of(row: Any) -> tuple[Placement, ...]:
    return tuple(Placement(p["node"], tuple(p["gpus"]), p.get("fraction"))
                 for p in (row.placements or []))


def placements_json(placements: tuple[Placement, ...]) -> list[dict[str, Any]]:
    return [{"node": p.node, "gpus": list(p.gpus), "fraction": p.fraction} for p in placements]


def job_dir(home: Path, project: str, job: str) -> Path:
    """``$MLFABRIC_HOME/jobs/<project>/<job>``: logs, exit codes, working directory."""
    return home / "jobs" / project / job


def to_run(row: Any, home: Path, node_memory: dict[str, int] | None = None,
           uid: int | None = None) -> Run:
    return Run(project=row.project, job=row.name, spec=dict(row.spec),
               placements=placements_of(row), job_dir=job_dir(home, row.project, row.name),
               started_at=row.started_at or 0.0, node_memory=dict(node_memory or {}),
               processes=tuple(Process.from_dict(p) for p in (row.processes or [])), uid=uid)


def allocated(row: Any) -> float:
    """GPUs a running job holds (shared GPUs count by fraction)."""
    total = 0.0
    for p in placements_of(row):
        total += p.fraction if p.fraction is not None else len(p.gpus)
    return round(total, 6)


def to_job_info(row: Any, home: Path) -> JobInfo:
    spec = row.spec
    running = row.state == "Running"
    is_preemptible = (not spec.get("interactive")) if spec.get("preemptible") is None \
        else bool(spec.get("preemptible"))
    return JobInfo(
        project=row.project, name=row.name, state=row.state, gpus=spec.get("gpus"),
        gpu_memory=spec.get("gpu_memory"), processes=int(spec.get("processes") or 1),
        interactive=bool(spec.get("interactive")), preemptible=is_preemptible,
        command=list(spec.get("command") or []), submitted_at=row.submit_time,
        reason=row.reason if row.state == "Pending" else None,
        reason_code=row.reason_code if row.state == "Pending" else None,
        # where it runs, or ran (a finished job keeps its last placement)
        placements=list(row.placements or []) if row.state != "Pending" else [],
        allocated=allocated(row) if running else 0.0, runtime=row.runtime,
        started_at=row.started_at, finished_at=row.finished_at, exit_code=row.exit_code,
        message=row.message, snapshot=row.snapshot, runs=row.runs or 0,
        volumes=list(spec.get("volumes") or []), datasets=list(spec.get("datasets") or []),
        pids=_pids(row) if running else [],
        log_dir=str(job_dir(home, row.project, row.name)), engine=spec.get("engine"),
        endpoints=engines.endpoints(spec, job_dir(home, row.project, row.name))
        if running else {}, node_address=_address(row) if running else None)


def _handles(row: Any) -> tuple[Any, list[Process]]:
    """A running job's runtime and its processes (None, [] where there are none)."""
    if not row.runtime or not row.processes:
        return None, []
    from mlfabric.scheduler.runtimes import RUNTIMES

    if row.runtime not in RUNTIMES:
        return None, []
    return RUNTIMES.get(row.runtime), [Process.from_dict(p) for p in row.processes]


def _pids(row: Any) -> list[int]:
    """The OS pids of a running job's processes, as its runtime reads its handles."""
    runtime, procs = _handles(row)
    return [pid for p in procs if (pid := runtime.pid(p)) is not None]


def _address(row: Any) -> str | None:
    """The address of the node a running job's first process runs on, if its runtime
    reports one."""
    runtime, procs = _handles(row)
    return runtime.address(procs[0]) if procs else None


def to_node_info(row: Any, alloc: float = 0.0) -> NodeInfo:
    return NodeInfo(name=row.name, pool=row.pool, gpus=row.gpus, gpu_memory=row.gpu_memory or 0,
                    runtime=row.runtime, detected=bool(row.detected), created_at=row.created_at,
                    allocated=round(alloc, 6))


def to_project_info(row: Any, jobs: list[Any], fair_share: float | None = None
                    ) -> ProjectInfo:
    mine = [j for j in jobs if j.project == row.name]
    return ProjectInfo(name=row.name, quota=row.quota, weight=row.weight, limit=row.gpu_limit,
                       interactive_time_limit=row.interactive_time_limit, pool=row.pool,
                       created_at=row.created_at,
                       allocated=round(sum(allocated(j) for j in mine
                                           if j.state == "Running"), 6),
                       running=sum(1 for j in mine if j.state == "Running"),
                       pending=sum(1 for j in mine if j.state == "Pending"),
                       fair_share=None if fair_share is None else round(fair_share, 6),
                       uid=row.uid)


def project_row(conn: Connection, name: str) -> Any:
    return named_row(conn, S.projects, name, "project")


def node_row(conn: Connection, name: str) -> Any:
    return named_row(conn, S.nodes, name, "node")


def job_row(conn: Connection, name: str, project: str | None) -> Any:
    """The job ``name`` of ``project`` (or of any project, if the name is unique); ``name``
    may be the job's ``PROJECT/NAME``, as listings print it."""
    if "/" in name:
        owner, _, name = name.partition("/")
        if project is not None and project != owner:
            raise InvalidInput(f"job '{owner}/{name}' is not in project '{project}'",
                               field="project")
        project = owner
    q = select(S.jobs).where(S.jobs.c.name == name)
    if project is not None:
        project_row(conn, project)
        q = q.where(S.jobs.c.project == project)
    rows = conn.execute(q).all()
    if not rows:
        raise NotFound("job", f"{project}/{name}" if project else name)
    if len(rows) > 1:
        found = ", ".join(sorted(r.project for r in rows))
        raise InvalidInput(f"job name '{name}' exists in several projects ({found}); "
                           "give the project with -p", field="project")
    return rows[0]


def record_event(conn: Connection, project: str, job: str, at: float, kind: str,
                 message: str | None = None) -> None:
    conn.execute(S.job_events.insert().values(project=project, job=job, at=at, kind=kind,
                                              message=message))
