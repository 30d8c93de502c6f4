"""Reading commands show what the runtimes show, with or without a scheduler loop.

Without a server or ``scheduler run``, nothing else notices that a job's processes
exited (or that a sim job's duration or an interactive job's time limit ran out). Before
jobs or the scheduler's status are read, the recorded runs are polled, as the loop's
cycle does; if one has ended, a cycle runs, which records how it ended and hands its
GPUs on. Polling only looks; the cycle does the rest.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, select

from mlfabric.catalog import scheduler_schema as S
from mlfabric.errors import Busy
from mlfabric.home import Home
from mlfabric.scheduler import jobstore
from mlfabric.scheduler.runtimes import RUNTIMES


def reconcile(st: Home, now: float | None = None) -> bool:
    """Run a cycle if a running job has ended or run out of time; True if one ran."""
    now = time.time() if now is None else now

    def _q(conn: Connection) -> list[Any]:
        J, P = S.jobs, S.projects
        return conn.execute(
            select(J, P.c.interactive_time_limit).join(P, P.c.name == J.c.project)
            .where(J.c.state == "Running")).all()

    rows = st.catalog.run_read(_q)
    if not any(_due(row, st, now) for row in rows):
        return False
    from mlfabric.scheduler import loop

    try:
        loop.cycle(home=str(st.config.home), lock_wait_s=0)
    except Busy:
        return False  # a cycle is running right now, and will record it
    return True


def _due(row: Any, st: Home, now: float) -> bool:
    """Whether a cycle has something to do about this running job."""
    limit = row.interactive_time_limit
    if (limit is not None and row.spec.get("interactive") and row.started_at is not None
            and now - row.started_at >= limit):
        return True
    name = row.runtime or "sim"
    if name not in RUNTIMES:
        return False
    return RUNTIMES.get(name).poll(jobstore.to_run(row, st.config.home), now) is not None
