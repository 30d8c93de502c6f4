"""``mlfabric job logs [--follow]``: what a job's processes write, as it grows."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from mlfabric.errors import InvalidInput, NotFound
from mlfabric.scheduler import loop
from mlfabric.scheduler.listing import get
from mlfabric.scheduler.runtimes import RUNTIMES
from mlfabric.scheduler.states import ACTIVE


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
    path = log_path(name, project=project, rank=rank, home=home)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def follow_logs(name: str, *, project: str | None = None, rank: int = 0,
                home: str | None = None, poll_s: float = 0.2,
                cycle_every_s: float = 1.0) -> Iterator[str]:
    """Yield a job's log as it grows, until the job has ended (runs cycles meanwhile, so
    it ends even without a daemon). While nothing new is written it yields ``""`` every
    ``poll_s``, so a caller streaming to a reader notices when the reader has gone."""
    path = log_path(name, project=project, rank=rank, home=home)
    job = get(name, project=project, home=home)
    offset = 0
    last_cycle = time.monotonic()
    while True:
        chunk = _read_from(path, offset)
        offset += len(chunk)
        if chunk:
            yield chunk.decode("utf-8", errors="replace")
        try:
            state = get(job.name, project=job.project, home=home).state
        except NotFound:
            state = "Deleted"
        if state not in ACTIVE:
            rest = _read_from(path, offset)
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
