"""Workspace rows in the catalog, and the ``Workspace`` users see (its state from the job).

The row keeps the desired state (``Running`` or ``Stopped``); what runs is the job's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, select

from mlfabric import jobs
from mlfabric.catalog import named_row, platform_schema
from mlfabric.errors import AlreadyExists, NotFound
from mlfabric.home import open_home
from mlfabric.locks import file_lock
from mlfabric.workspaces.jupyter_config import url
from mlfabric.workspaces.records import Workspace

W = platform_schema.workspaces
RUNNING, STOPPED = "Running", "Stopped"


@contextlib.contextmanager
def locked(name: str, home: str | None) -> Iterator[None]:
    """One operation at a time on a workspace (create, start, stop, restore, delete)."""
    st = open_home(home)
    with file_lock(st.config.locks_dir / "workspaces" / f"{name}.lock",
                   what=f"workspace '{name}'"):
        yield


def _row(conn: Connection, name: str) -> Any:
    return named_row(conn, W, name, "workspace")


def read(name: str, home: str | None) -> Any:
    """The catalog row of workspace ``name`` (``NotFound`` if there is none)."""
    return open_home(home).catalog.run_read(lambda c: _row(c, name))


def read_all(project: str | None, home: str | None) -> list[Any]:
    """Rows of every workspace (of one project), by name."""
    q = select(W).order_by(W.c.name)
    if project is not None:
        q = q.where(W.c.project == project)
    return open_home(home).catalog.run_read(lambda c: list(c.execute(q)))


def insert(name: str, *, project: str, volume: str, job: str, host: str, port: int,
           password_hash: str, spec: dict[str, Any], home: str | None) -> None:
    """Claim the name: the commit point of create and clone (state Stopped until started)."""

    def _insert(conn: Connection) -> None:
        if conn.execute(select(W.c.name).where(W.c.name == name)).first():
            raise AlreadyExists("workspace", name)
        conn.execute(W.insert().values(name=name, project=project, volume=volume, job=job,
                                       host=host, port=port, password_hash=password_hash,
                                       spec=spec, state=STOPPED, created_at=time.time()))

    open_home(home).catalog.run_write(_insert)


def update(name: str, home: str | None, **values: Any) -> None:
    """Change columns of an existing row."""

    def _update(conn: Connection) -> None:
        _row(conn, name)
        conn.execute(W.update().where(W.c.name == name).values(**values))

    open_home(home).catalog.run_write(_update)


def remove(name: str, home: str | None) -> None:
    """Forget the workspace (its volume and job are the caller's)."""
    open_home(home).catalog.run_write(
        lambda c: c.execute(W.delete().where(W.c.name == name)))


def find_job(row: Any, home: str | None) -> jobs.JobInfo | None:
    """The workspace's job, or None when it does not exist (stopped or never started)."""
    try:
        return jobs.get(row.job, project=row.project, home=home)
    except NotFound:
        return None


def _reason(job: jobs.JobInfo) -> str | None:
    """Why the workspace waits, or how its JupyterLab ended."""
    if job.state in ("Pending", "Running"):
        return job.reason
    logs = f"`mlfabric job logs {job.name} -p {job.project}`"
    if job.state == "Succeeded":
        return f"JupyterLab was shut down; `workspace start` starts it again ({logs})"
    ended = job.message or (f"exit code {job.exit_code}" if job.exit_code is not None
                            else None)
    return f"{ended}; see {logs}" if ended else f"see {logs}"


def to_workspace(row: Any, job: jobs.JobInfo | None, *,
                 password: str | None = None) -> Workspace:
    """What users see: the row's settings with the job's state and reason."""
    spec = row.spec or {}
    if row.state == STOPPED:
        state, reason = STOPPED, None
    elif job is None:
        state = STOPPED
        reason = (f"its job {row.project}/{row.job} was deleted; `workspace start` starts "
                  "it again")
    else:
        state, reason = job.state, _reason(job)
    node, address = (job.node, job.node_address) if job is not None else (None, None)
    return Workspace(name=row.name, project=row.project, volume=row.volume, job=row.job,
                     state=state, reason=reason, url=url(row.host, row.port, address),
                     node=node, node_address=address, host=row.host,
                     port=row.port, gpus=float(spec.get("gpus") or 0), size=spec.get("size"),
                     volumes=list(spec.get("volumes") or []),
                     datasets=list(spec.get("datasets") or []), created_at=row.created_at,
                     password=password)
