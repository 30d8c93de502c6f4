"""``mlfabric job logs [--follow]``: what a job's processes write, as it grows."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

from mlfabric.errors import InvalidInput, NotFound
from mlfabric.home import open_home
from mlfabric.scheduler import jobstore, loop
from mlfabric.scheduler.listing import get
from mlfabric.scheduler.runtimes import RUNTIMES
from mlfabric.scheduler.states import ACTIVE, RUNNING


def log_path(name: str, *, project: str | None = None, rank: int = 0,
             home: str | None = None) -> str:
    """The log file of process ``rank`` of a job (``InvalidInput`` if its runtime runs
    no processes, as ``sim`` does: an empty log would read as a silent job)."""
    job = get(name, project=project, home=home)
    if job.runtime in RUNTIMES and "processes" not in RUNTIMES.get(job.runtime).capabilities:
        raise InvalidInput(f"job '{job.ref}' runs on the {job.runtime} runtime, which starts "
                           "no processes: it has no logs", field="job", value=name)
    if not 0 <= rank < job.processes:
        raise InvalidInput(f"job '{job.ref}' has no process of rank {rank} "
                           f"(it has {job.processes})", field="rank", value=rank)
    return os.path.join(job.log_dir or "", f"rank-{rank}.log")


def logs(name: str, *, project: str | None = None, rank: int = 0,
         home: str | None = None) -> str:
    """What process ``rank`` of a job has written so far (empty if it never ran here)."""
    return _reader(name, project, rank, home)(0).decode("utf-8", errors="replace")


def _reader(name: str, project: str | None, rank: int,
            home: str | None) -> Callable[[int], bytes]:
    """Reads process ``rank``'s output from an offset: through its runtime while the job
    runs (on its node), else from its log file."""
    path = log_path(name, project=project, rank=rank, home=home)
    job = get(name, project=project, home=home)
    st = open_home(home)
    row = st.catalog.run_read(lambda c: jobstore.job_row(c, job.name, job.project))
    if row.state == RUNNING and row.runtime in RUNTIMES and row.processes:
        runtime, run = RUNTIMES.get(row.runtime), jobstore.to_run(row, st.config.home)
        return lambda offset: runtime.read_log(run, rank, offset)
    return lambda offset: _read_from(path, offset)


def follow_logs(name: str, *, project: str | None = None, rank: int = 0,
                home: str | None = None, poll_s: float = 0.2,
                cycle_every_s: float = 1.0) -> Iterator[str]:
    """Yield a job's log as it grows, until the job has ended (runs cycles meanwhile, so
    it ends even without a daemon). While nothing new is written it yields ``""`` every
    ``poll_s``, so a caller streaming to a reader notices when the reader has gone."""
    read = _reader(name, project, rank, home)
    job = get(name, project=project, home=home)
    offset = 0
    last_cycle = time.monotonic()
    while True:
        chunk = read(offset)
        offset += len(chunk)
        if chunk:
            yield chunk.decode("utf-8", errors="replace")
        try:
            state = get(job.name, project=job.project, home=home).state
        except NotFound:
            state = "Deleted"
        if state not in ACTIVE:
            rest = read(offset)
            if rest:
                yield rest.decode("utf-8", errors="replace")
            return
        if time.monotonic() - last_cycle >= cycle_every_s:
            loop.cycle(home=home)
            last_cycle = time.monotonic()
        if not chunk:
            yield ""
            time.sleep(poll_s)


def _read_from(path: str, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""
