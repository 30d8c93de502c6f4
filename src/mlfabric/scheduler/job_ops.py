"""Jobs in the catalog: ``mlfabric job submit|list|get|logs|delete|exec``.

Every mutating call runs a scheduling cycle before it returns, so a CLI-only user sees
the decision (running, or pending with a reason) at once.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from mlfabric.catalog import scheduler_schema as S
from mlfabric.errors import AlreadyExists, InvalidInput, MlfabricError, NotFound
from mlfabric.home import open_home
from mlfabric.names import validate_name
from mlfabric.scheduler import jobstore, loop
from mlfabric.scheduler.events import Delete
from mlfabric.scheduler.model import Job, gpu_request
from mlfabric.scheduler.reasons import NEW
from mlfabric.scheduler.records import CycleReport, ExecResult, JobInfo
from mlfabric.scheduler.runtimes.local import process_env
from mlfabric.scheduler.states import ACTIVE
from mlfabric.units import parse_duration, parse_size

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_gpus(text: str | float | None) -> float | None:
    """``2`` -> 2.0, ``0.5`` -> 0.5; validation of the amount is the scheduler's."""
    if text is None or isinstance(text, int | float):
        return None if text is None else float(text)
    try:
        return float(str(text).strip())
    except ValueError:
        raise InvalidInput(f"invalid GPU count '{text}': expected a whole number or a "
                           "fraction below 1 (e.g. 2, 0.5)", field="gpus", value=text) from None


def parse_env(items: Sequence[str] | dict[str, str] | None) -> dict[str, str]:
    """``K=V`` items as a dict."""
    if isinstance(items, dict):
        items = [f"{k}={v}" for k, v in items.items()]
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not _ENV_NAME.match(key):
            raise InvalidInput(f"invalid environment variable '{item}': expected NAME=VALUE",
                               field="env", value=item)
        out[key] = value
    return out


def _check_volumes(items: Sequence[str], home: str | None) -> list[str]:
    from mlfabric import volumes

    out = []
    for item in items:
        vol, _, path = item.partition(":")
        validate_name(vol, "volume name")
        volumes.show(vol, home=home)  # NotFound if missing
        if path and (".." in path.split("/") or not path.strip("/")):
            raise InvalidInput(f"invalid volume mount path '{path}' in '{item}': use a path "
                               "inside the job's working directory", field="volume")
        out.append(item)
    return out


def _check_datasets(items: Sequence[str]) -> list[str]:
    out = []
    for item in items:
        ds, sep, ver = item.partition(":")
        validate_name(ds, "dataset name")
        if not sep or not ver:
            raise InvalidInput(f"invalid dataset reference '{item}': expected DATASET:VERSION",
                               field="dataset", value=item)
        out.append(item)
    return out


def submit(name: str, *, project: str, gpus: str | float | None = None,
           gpu_memory: str | int | None = None, interactive: bool = False,
           preemptible: bool | None = None, processes: int = 1,
           command: Sequence[str] = (), env: Sequence[str] | dict[str, str] | None = None,
           volumes: Sequence[str] = (), datasets: Sequence[str] = (),
           snapshot_on_complete: str | None = None, sim_duration: str | float | None = None,
           home: str | None = None) -> JobInfo:
    """Queue a job and run a cycle; the job comes back running or pending with a reason."""
    validate_name(name, "job name")
    memory = parse_size(gpu_memory) if gpu_memory is not None else None
    job = Job(name, project, gpus=parse_gpus(gpus), gpu_memory=memory, interactive=interactive,
              preemptible=preemptible, processes=processes)
    st = open_home(home)
    st.catalog.run_read(lambda c: jobstore.project_row(c, project))
    gpu_request(job)  # InvalidInput for a bad amount or shape
    spec: dict[str, Any] = {
        "gpus": job.gpus, "gpu_memory": memory, "processes": processes,
        "interactive": interactive, "preemptible": preemptible,
        "command": [str(c) for c in command], "env": parse_env(env),
        "volumes": _check_volumes(volumes, home), "datasets": _check_datasets(datasets),
        "snapshot_on_complete": None,
        "sim_duration": parse_duration(sim_duration) if sim_duration is not None else None,
    }
    if snapshot_on_complete:
        from mlfabric import volumes as vols

        vols.show(validate_name(snapshot_on_complete, "volume name"), home=home)
        spec["snapshot_on_complete"] = snapshot_on_complete

    def _write(conn: Connection) -> None:
        jobstore.project_row(conn, project)
        exists = conn.execute(select(S.jobs.c.id).where(S.jobs.c.project == project,
                                                        S.jobs.c.name == name)).first()
        if exists:
            raise AlreadyExists("job", f"{project}/{name}")
        now = time.time()
        conn.execute(S.jobs.insert().values(project=project, name=name, spec=spec,
                                            state="Pending", submit_time=now,
                                            reason_code=NEW.code, reason=NEW.message, runs=0))
        jobstore.record_event(conn, project, name, now, "submitted", None)

    try:
        st.catalog.run_write(_write)
    except IntegrityError:
        raise AlreadyExists("job", f"{project}/{name}") from None
    loop.cycle(home=home)
    return get(name, project=project, home=home)


def list_jobs(*, project: str | None = None, home: str | None = None,
              states: Sequence[str] | None = None) -> list[JobInfo]:
    """Jobs (of one project), oldest submission first."""
    st = open_home(home)

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
    """One job, with its placements or why it is pending."""
    st = open_home(home)
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


def delete_jobs(names: Sequence[str], *, project: str | None = None,
                home: str | None = None) -> list[JobInfo]:
    """Delete jobs (running ones are stopped); all names are checked before any goes."""
    if not names:
        raise InvalidInput("give at least one job name", field="name")
    found = [get(n, project=project, home=home) for n in names]
    deletes = [Delete(j.project, j.name) for j in found if j.state in ACTIVE]
    loop.cycle(home=home, events=deletes, drop=[(j.project, j.name) for j in found])
    return found


def step(*, home: str | None = None, grace_s: float | None = None) -> CycleReport:
    """Run one scheduling cycle now."""
    return loop.cycle(home=home, grace_s=grace_s)


def log_path(name: str, *, project: str | None = None, rank: int = 0,
             home: str | None = None) -> str:
    """The log file of process ``rank`` of a job."""
    job = get(name, project=project, home=home)
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


def _exec_context(name: str, command: Sequence[str], project: str | None,
                  home: str | None) -> tuple[Any, dict[str, str], Path | None]:
    """The running job's row, variables and working directory for ``job exec``."""
    if not command:
        raise InvalidInput("give a command to run after --", field="command")
    st = open_home(home)
    row = st.catalog.run_read(lambda c: jobstore.job_row(c, name, project))
    if row.state != "Running":
        raise InvalidInput(f"job '{row.project}/{row.name}' is {row.state}, not Running",
                           field="job", value=name)
    run = jobstore.to_run(row, st.config.home)
    env = {**os.environ, **process_env(run, 0, 0)}
    env.pop("MASTER_PORT", None)
    return row, env, run.work_dir if run.work_dir.is_dir() else None


def _run(command: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    try:
        return subprocess.run(list(command), check=False, **kwargs)
    except OSError as exc:
        raise MlfabricError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from exc


def exec_in(name: str, command: Sequence[str], *, project: str | None = None,
            home: str | None = None) -> int:
    """Run ``command`` next to a running job (its variables and working directory)."""
    _, env, cwd = _exec_context(name, command, project, home)
    return _run(command, env=env, cwd=cwd).returncode


def exec_output(name: str, command: Sequence[str], *, project: str | None = None,
                timeout: float = 600.0, home: str | None = None) -> ExecResult:
    """Like ``exec_in`` but capture what it prints (for callers without a terminal)."""
    row, env, cwd = _exec_context(name, command, project, home)
    try:
        done = _run(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise MlfabricError(f"command timed out after {timeout:g}s") from exc
    return ExecResult(job=f"{row.project}/{row.name}", exit_code=done.returncode,
                      output=done.stdout.decode("utf-8", errors="replace"))
