"""``mlfabric job submit``: the spec, checked field by field (the plan), then the catalog
row and a scheduling cycle (the apply), so a CLI-only user sees the decision at once."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from mlfabric.catalog import scheduler_schema as S
from mlfabric.errors import AlreadyExists, InvalidInput
from mlfabric.home import open_home
from mlfabric.names import check_text, validate_name
from mlfabric.scheduler import engines, jobstore, loop
from mlfabric.scheduler.listing import get
from mlfabric.scheduler.model import Job, gpu_request
from mlfabric.scheduler.mounts import check_targets, mount_target
from mlfabric.scheduler.reasons import NEW
from mlfabric.scheduler.records import JobInfo
from mlfabric.scheduler.states import PENDING
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
        out[key] = check_text(value, "env")
    return out


def _check_mount(item: str) -> str:
    """``VOL[:PATH]``: PATH in the job's working directory, or absolute in its sandbox."""
    vol, _, path = item.partition(":")
    validate_name(vol, "volume name")
    check_text(path, "volume")
    mount_target(item)
    return item


def _check_dataset(item: str) -> str:
    ds, sep, ver = item.partition(":")
    validate_name(ds, "dataset name")
    if not sep or not ver:
        raise InvalidInput(f"invalid dataset reference '{item}': expected DATASET:VERSION",
                           field="dataset", value=item)
    return item


STATE_AREAS = ("workspaces", "serving")  # where services keep their jobs' state


def _check_state_dirs(home: Path, dirs: Sequence[str]) -> list[str]:
    areas = [(home / a).resolve() for a in STATE_AREAS]
    out = []
    for d in dirs:
        path = Path(d).resolve()
        if not any(path.parent == a for a in areas):
            raise InvalidInput(f"'{d}' is not a service's folder in the home", field="state_dirs")
        out.append(str(path))
    return out


def plan_submit(name: str, *, project: str, gpus: str | float | None = None,
                gpu_memory: str | int | None = None, interactive: bool = False,
                preemptible: bool | None = None, processes: int = 1,
                command: Sequence[str] = (), env: Sequence[str] | dict[str, str] | None = None,
                volumes: Sequence[str] = (), datasets: Sequence[str] = (),
                snapshot_on_complete: str | None = None,
                sim_duration: str | float | None = None,
                engine: str | None = None) -> dict[str, Any]:
    """The job's spec as the catalog keeps it, every field checked (pure: the resources
    it names are checked by ``submit``). An ``engine`` (``dask``) gives each process of
    the gang a role; its command, if any, runs once the engine is up."""
    validate_name(name, "job name")
    engines.check(engine, processes, command)
    memory = parse_size(gpu_memory) if gpu_memory is not None else None
    job = Job(name, project, gpus=parse_gpus(gpus), gpu_memory=memory, interactive=interactive,
              preemptible=preemptible, processes=processes)
    gpu_request(job)  # InvalidInput for a bad amount or shape
    return {
        "gpus": job.gpus, "gpu_memory": memory, "processes": processes,
        "interactive": interactive, "preemptible": preemptible,
        "command": [check_text(str(c), "command") for c in command], "env": parse_env(env),
        "volumes": check_targets([_check_mount(item) for item in volumes]),
        "datasets": [_check_dataset(item) for item in datasets],
        "snapshot_on_complete": (validate_name(snapshot_on_complete, "volume name")
                                 if snapshot_on_complete else None),
        "sim_duration": parse_duration(sim_duration) if sim_duration is not None else None,
        **({"engine": engine} if engine else {}),
    }


def submit(name: str, *, project: str, gpus: str | float | None = None,
           gpu_memory: str | int | None = None, interactive: bool = False,
           preemptible: bool | None = None, processes: int = 1,
           command: Sequence[str] = (), env: Sequence[str] | dict[str, str] | None = None,
           volumes: Sequence[str] = (), datasets: Sequence[str] = (),
           snapshot_on_complete: str | None = None, sim_duration: str | float | None = None,
           engine: str | None = None, state_dirs: Sequence[str] = (),
           host_shm: bool = False, queue_only: bool = False,
           home: str | None = None) -> JobInfo:
    """Queue a job and run a cycle; the job comes back running or pending with a reason.
    ``queue_only``: no cycle; the job waits (``new``) for the next one, which starts
    everything queued since together (``scheduler run``, ``scheduler step``): many jobs are
    submitted without waiting for each one's start.

    ``state_dirs`` are folders of a service's own state under the home (a workspace's, an
    inference server's) its confined processes may write; the services set them, a
    request cannot (they never cross the REST API); nor can it ask for ``host_shm``, the
    host's ``/dev/shm`` in the sandbox (an inference server with system shared memory)."""
    spec = plan_submit(name, project=project, gpus=gpus, gpu_memory=gpu_memory,
                       interactive=interactive, preemptible=preemptible, processes=processes,
                       command=command, env=env, volumes=volumes, datasets=datasets,
                       snapshot_on_complete=snapshot_on_complete, sim_duration=sim_duration,
                       engine=engine)
    st = open_home(home)
    spec["state_dirs"] = _check_state_dirs(st.path, state_dirs)
    if host_shm:
        spec["host_shm"] = True
    st.catalog.run_read(lambda c: jobstore.project_row(c, project))
    from mlfabric import volumes as vols

    for vol in [item.partition(":")[0] for item in spec["volumes"]] + (
            [spec["snapshot_on_complete"]] if spec["snapshot_on_complete"] else []):
        vols.show(vol, home=home)  # NotFound if missing

    def _write(conn: Connection) -> None:
        jobstore.project_row(conn, project)
        exists = conn.execute(select(S.jobs.c.id).where(S.jobs.c.project == project,
                                                        S.jobs.c.name == name)).first()
        if exists:
            raise AlreadyExists("job", f"{project}/{name}")
        now = time.time()
        conn.execute(S.jobs.insert().values(project=project, name=name, spec=spec,
                                            state=PENDING, submit_time=now,
                                            reason_code=NEW.code, reason=NEW.message, runs=0))
        jobstore.record_event(conn, project, name, now, "submitted", None)

    try:
        st.catalog.run_write(_write)
    except IntegrityError:
        raise AlreadyExists("job", f"{project}/{name}") from None
    if not queue_only:
        loop.cycle(home=home)
    return get(name, project=project, home=home)
