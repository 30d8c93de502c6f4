"""``mlfabric job list|get`` and a job's history (``events``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from mlfabric.catalog import scheduler_schema as S
from mlfabric.home import open_home
from mlfabric.scheduler import jobstore
from mlfabric.scheduler.reconcile import reconcile
from mlfabric.scheduler.records import JobInfo


def list_jobs(*, project: str | None = None, home: str | None = None,
              states: Sequence[str] | None = None) -> list[JobInfo]:
    """Jobs (of one project), oldest submission first, as the runtimes see them now."""
    st = open_home(home)
    reconcile(st)

    def _q(conn: Connection) -> list[JobInfo]:
        q = select(S.jobs).order_by(S.jobs.c.submit_time, S.jobs.c.id)
        if project is not None:
            jobstore.project_row(conn, project)
            q = q.where(S.jobs.c.project == project)
        if states:
            q = q.where(S.jobs.c.state.in_(list(states)))
        return [jobstore.to_job_info(r, st.config.home) for r in conn.execute(q)]

    return st.catalog.run_read(_q)


def get(name: str, *, project: str | None = None, home: str | None = None) -> JobInfo:
    """One job, with its placements or why it is pending, as its runtime sees it now."""
    st = open_home(home)
    reconcile(st)
    return st.catalog.run_read(
        lambda c: jobstore.to_job_info(jobstore.job_row(c, name, project), st.config.home))


def events(name: str, *, project: str | None = None,
           home: str | None = None) -> list[dict[str, Any]]:
    """A job's history: submitted, started, preempted, finished..."""
    st = open_home(home)
    job = get(name, project=project, home=home)

    def _q(conn: Connection) -> list[dict[str, Any]]:
        E = S.job_events
        rows = conn.execute(select(E).where(E.c.project == job.project, E.c.job == job.name)
                            .order_by(E.c.id))
        return [{"at": r.at, "kind": r.kind, "message": r.message} for r in rows]

    return st.catalog.run_read(_q)
