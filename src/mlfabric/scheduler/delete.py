"""``mlfabric job delete``: running jobs are stopped; every name is checked first."""

from __future__ import annotations

from collections.abc import Sequence

from mlfabric.errors import InvalidInput
from mlfabric.scheduler import loop
from mlfabric.scheduler.events import Delete
from mlfabric.scheduler.listing import get
from mlfabric.scheduler.records import JobInfo
from mlfabric.scheduler.states import ACTIVE


def delete_jobs(names: Sequence[str], *, project: str | None = None,
                home: str | None = None) -> list[JobInfo]:
    """Delete jobs (running ones are stopped); all names are checked before any goes."""
    if not names:
        raise InvalidInput("give at least one job name", field="name")
    found = [get(n, project=project, home=home) for n in names]
    deletes = [Delete(j.project, j.name) for j in found if j.state in ACTIVE]
    loop.cycle(home=home, events=deletes, drop=[(j.project, j.name) for j in found])
    return found
