"""``workspace create``: a volume labelled with the project, and JupyterLab started on it.

Everything a user gave is checked before anything is made; after that the catalog row
claims the name, the volume is made, and the job submitted. A failure on the way undoes
what was made, so a failed create leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from mlfabric import datasets as lake
from mlfabric import jobs, projects
from mlfabric import volumes as vols
from mlfabric.errors import AlreadyExists, Busy, InvalidInput, MlfabricError, NotFound
from mlfabric.names import validate_name
from mlfabric.units import parse_size
from mlfabric.workspaces import rows, spec
from mlfabric.workspaces.jupyter_config import (
    free_port,
    hash_password,
    port_is_free,
    remove_files,
)
from mlfabric.workspaces.lifecycle import end_job, start_locked
from mlfabric.workspaces.records import Workspace


def project_label(project: str) -> str:
    """The label that puts a workspace's volume under its project's access rules."""
    return f"project={project}"


def _exists(lookup: Callable[[], object]) -> bool:
    try:
        lookup()
    except NotFound:
        return False
    return True


def _check_free(name: str, project: str, home: str | None) -> None:
    """Clear errors for names already taken (the row insert re-checks under a race)."""
    if _exists(lambda: rows.read(name, home)):
        raise AlreadyExists("workspace", name)
    if _exists(lambda: vols.show(name, home=home)):
        raise AlreadyExists("volume", name)
    job = spec.job_name(name)
    if _exists(lambda: jobs.get(job, project=project, home=home)):
        raise AlreadyExists("job", f"{project}/{job}")


def _pick_port(host: str, port: int | None) -> int:
    if port is None:
        return free_port(host)
    if not port_is_free(host, port):
        raise Busy(f"cannot listen on {host}:{port}: in use, or not an address of this "
                   "machine", resource=f"{host}:{port}")
    return port


def provision(name: str, *, project: str, make_volume: Callable[[], Any],
              gpus: str | float | None, volumes: Sequence[str], datasets: Sequence[str],
              password: str | None, host: str, port: int | None, size: int | None,
              home: str | None) -> Workspace:
    """Check, claim the name, make the volume with ``make_volume``, start; undo on failure."""
    spec.check_name(name)
    validate_name(project, "project name")
    share = spec.check_gpus(gpus)
    host = spec.check_host(host)
    port = spec.check_port(port)
    mounts = spec.check_volumes(volumes, own_volume=name)
    cached = spec.check_datasets(datasets)
    secret, generated = spec.check_password(password)
    projects.show(project, home=home)
    for item in mounts:
        vols.show(item.partition(":")[0], home=home)
    for ref in cached:
        lake.show(ref, home=home)
    with rows.locked(name, home):
        _check_free(name, project, home)
        settings = {"gpus": share, "size": size, "volumes": mounts, "datasets": cached,
                    "port_fixed": port is not None}
        rows.insert(name, project=project, volume=name, job=spec.job_name(name), host=host,
                    port=_pick_port(host, port), password_hash=hash_password(secret),
                    spec=settings, home=home)
        made = False
        try:
            make_volume()
            made = True
            ws = start_locked(name, home)
        except BaseException:
            _undo(name, made, home)
            raise
    return dataclasses.replace(ws, password=secret if generated else None)


def _undo(name: str, volume_made: bool, home: str | None) -> None:
    with contextlib.suppress(MlfabricError):
        end_job(rows.read(name, home), home)
    if volume_made:
        with contextlib.suppress(MlfabricError):
            vols.delete(name, force=True, home=home)
    remove_files(name, home)
    rows.remove(name, home)


def create(name: str, *, size: str | int | None = None, project: str,
           gpus: str | float | None = None, volumes: Sequence[str] = (),
           datasets: Sequence[str] = (), password: str | None = None,
           host: str = "127.0.0.1", port: int | None = None,
           home: str | None = None) -> Workspace:
    """Create a workspace: a new volume, and JupyterLab on it as an interactive job.
    Without ``password`` one is generated and returned once, in ``password``."""
    spec.check_name(name)
    size_limit = parse_size(size) if size is not None else None
    if size_limit == 0:
        raise InvalidInput("invalid size 0: give a size above 0, or none", field="size")

    def _make() -> None:
        vols.create(name, size=size_limit, labels=[project_label(project)], home=home)

    return provision(name, project=project, make_volume=_make, gpus=gpus, volumes=volumes,
                     datasets=datasets, password=password, host=host, port=port,
                     size=size_limit, home=home)
