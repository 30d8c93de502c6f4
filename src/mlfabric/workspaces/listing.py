"""``workspace list|show``."""

from __future__ import annotations

from mlfabric import jobs, projects
from mlfabric.workspaces import rows, spec
from mlfabric.workspaces.records import Workspace


def list_workspaces(*, project: str | None = None,
                    home: str | None = None) -> list[Workspace]:
    """Workspaces (of one project), by name, each with its job's state."""
    if project is not None:
        projects.show(project, home=home)  # NotFound for an unknown project
    found = rows.read_all(project, home)
    by_key = {(j.project, j.name): j for j in jobs.list(project=project, home=home)}
    return [rows.to_workspace(r, by_key.get((r.project, r.job))) for r in found]


def show(name: str, *, home: str | None = None) -> Workspace:
    """One workspace: URL, state (or why it is pending), GPUs and mounts."""
    spec.check_name(name)
    row = rows.read(name, home)
    return rows.to_workspace(row, rows.find_job(row, home))
