"""Projects in the catalog: ``mlfabric project create|list|show|update|delete``."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from mlfabric.catalog import scheduler_schema as S
from mlfabric.errors import AlreadyExists, Busy
from mlfabric.home import open_home
from mlfabric.names import validate_name
from mlfabric.scheduler import jobstore, loop
from mlfabric.scheduler.model import DEFAULT_POOL, Project, check_project
from mlfabric.scheduler.reconcile import reconcile
from mlfabric.scheduler.records import ProjectInfo
from mlfabric.scheduler.states import ACTIVE
from mlfabric.scheduler.status import fair_shares
from mlfabric.units import parse_duration

_UNSET: Any = object()


def _duration(value: str | float | None) -> float | None:
    return None if value is None else parse_duration(value, field="interactive_time_limit")


def _values(p: Project) -> dict[str, Any]:
    return {"quota": p.quota, "weight": p.weight, "gpu_limit": p.limit,
            "interactive_time_limit": p.interactive_time_limit, "pool": p.pool}


def create(name: str, *, quota: float, weight: float | None = None, limit: float | None = None,
           interactive_time_limit: str | float | None = None, pool: str = DEFAULT_POOL,
           home: str | None = None) -> ProjectInfo:
    """Create a project with a guaranteed ``quota`` of GPUs in node pool ``pool``."""
    project = check_project(Project(validate_name(name, "project name"), quota=quota,
                                    weight=weight, limit=limit, pool=pool,
                                    interactive_time_limit=_duration(interactive_time_limit)))
    st = open_home(home)

    def _write(conn: Connection) -> None:
        if conn.execute(select(S.projects.c.name).where(S.projects.c.name == name)).first():
            raise AlreadyExists("project", name)
        top = conn.execute(select(func.max(S.projects.c.uid))).scalar()
        uid = S.PROJECT_UID_BASE if top is None else top + 1
        conn.execute(S.projects.insert().values(name=name, created_at=time.time(), uid=uid,
                                                **_values(project)))

    st.catalog.run_write(_write)
    loop.cycle(home=home)
    return show(name, home=home)


def list_projects(*, home: str | None = None) -> list[ProjectInfo]:
    """Every project, by name, with its allocation and job counts."""
    st = open_home(home)
    reconcile(st)

    def _q(conn: Connection) -> list[ProjectInfo]:
        jobs = conn.execute(select(S.jobs).where(S.jobs.c.state.in_(ACTIVE))).all()
        shares = fair_shares(conn)
        return [jobstore.to_project_info(r, jobs, shares.get(r.name))
                for r in conn.execute(select(S.projects).order_by(S.projects.c.name))]

    return st.catalog.run_read(_q)


def show(name: str, *, home: str | None = None) -> ProjectInfo:
    """One project."""
    st = open_home(home)
    reconcile(st)

    def _q(conn: Connection) -> ProjectInfo:
        row = jobstore.project_row(conn, name)
        jobs = conn.execute(select(S.jobs).where(S.jobs.c.project == name,
                                                 S.jobs.c.state.in_(ACTIVE))).all()
        return jobstore.to_project_info(row, jobs, fair_shares(conn).get(name))

    return st.catalog.run_read(_q)


def update_project(name: str, *, quota: float | None = None, weight: float | None = _UNSET,
                   limit: float | None = _UNSET,
                   interactive_time_limit: str | float | None = _UNSET,
                   pool: str | None = None, home: str | None = None) -> ProjectInfo:
    """Change a project's quota, weight, limit, interactive time limit or pool."""
    st = open_home(home)

    def _write(conn: Connection) -> None:
        old = jobstore.to_project(jobstore.project_row(conn, name))
        new = old
        if quota is not None:
            new = replace(new, quota=quota)
        if weight is not _UNSET:
            new = replace(new, weight=weight)
        if limit is not _UNSET:
            new = replace(new, limit=limit)
        if interactive_time_limit is not _UNSET:
            new = replace(new, interactive_time_limit=_duration(interactive_time_limit))
        if pool is not None:
            new = replace(new, pool=pool)
        check_project(new)
        conn.execute(update(S.projects).where(S.projects.c.name == name).values(**_values(new)))

    st.catalog.run_write(_write)
    loop.cycle(home=home)
    return show(name, home=home)


def delete_project(name: str, *, home: str | None = None) -> ProjectInfo:
    """Delete a project with no pending or running jobs (its finished jobs go with it)."""
    st = open_home(home)
    info = show(name, home=home)
    if info.running or info.pending:
        raise Busy(f"project '{name}' has {info.running + info.pending} pending or running "
                   "job(s); delete them first", resource=name)

    def _write(conn: Connection) -> None:
        conn.execute(delete(S.jobs).where(S.jobs.c.project == name))
        conn.execute(delete(S.projects).where(S.projects.c.name == name))

    st.catalog.run_write(_write)
    loop.cycle(home=home)
    return info
