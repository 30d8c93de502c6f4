"""``mlfabric job delete``: running jobs are stopped; every name is checked first."""

from __future__ import annotations

from collections.abc import Sequence

from mlfabric.errors import InvalidInput, NotFound
from mlfabric.scheduler import loop
from mlfabric.scheduler.events import Delete
from mlfabric.scheduler.listing import get
from mlfabric.scheduler.records import JobInfo
from mlfabric.scheduler.states import ACTIVE


def delete_jobs(names: Sequence[str], *, project: str | None = None, missing_ok: bool = False,
                home: str | None = None) -> list[JobInfo]:
    """Delete jobs (running ones are stopped) in one cycle. All names are checked before
    any goes: a missing one is an error, or with ``missing_ok`` left out of the result
    (``kubectl delete a b c`` deletes what exists)."""
    if not names:
        raise InvalidInput("give at least one job name", field="name")
    found: list[JobInfo] = []
    for n in names:
        try:
            found.append(get(n, project=project, home=home))
        except NotFound:
            if not missing_ok:
                raise
    deletes = [Delete(j.project, j.name) for j in found if j.state in ACTIVE]
    loop.cycle(home=home, events=deletes, drop=[(j.project, j.name) for j in found])
    return found
