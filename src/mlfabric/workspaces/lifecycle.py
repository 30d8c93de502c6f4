"""``workspace start|stop``: submit the interactive job that runs JupyterLab, or end it.

Stopping deletes the job, so the runtime sends the process group SIGTERM, then SIGKILL
after the grace period; the launcher takes the kernels down with JupyterLab, and what it
recorded is checked (and killed) here, so no process outlives a stop.
"""

from __future__ import annotations

from typing import Any

from mlfabric import jobs, proctree
from mlfabric.errors import Busy, MlfabricError
from mlfabric.scheduler import ACTIVE
from mlfabric.workspaces import processes, rows
from mlfabric.workspaces.jupyter_config import (
    PROCESSES_FILE,
    free_port,
    launch_command,
    port_is_free,
    workspace_dir,
    write_config,
)
from mlfabric.workspaces.records import Workspace
from mlfabric.workspaces.spec import check_name


def _submit(row: Any, home: str | None) -> None:
    spec = row.spec
    command = launch_command(row.name, volume=row.volume, volumes=spec["volumes"],
                             datasets=spec["datasets"], home=home)
    jobs.submit(row.job, project=row.project, gpus=spec["gpus"], interactive=True,
                command=command, datasets=spec["datasets"], home=home,
                volumes=[row.volume, *(v.partition(":")[0] for v in spec["volumes"])],
                state_dirs=[str(workspace_dir(row.name, home))])


def _port(row: Any) -> int:
    """The stored port if JupyterLab can have it, else a new free one (unless fixed)."""
    if port_is_free(row.host, row.port):
        return int(row.port)
    if row.spec.get("port_fixed"):
        raise Busy(f"port {row.port} on {row.host} is in use; free it, or clone the "
                   "workspace to get another port", resource=f"{row.host}:{row.port}")
    return free_port(row.host)


def start_locked(name: str, home: str | None) -> Workspace:
    """Start the workspace's job unless it is pending or running; the caller holds the lock."""
    row = rows.read(name, home)
    job = rows.find_job(row, home)
    if row.state == rows.RUNNING and job is not None and job.state in ACTIVE:
        return rows.to_workspace(row, job)
    end_job(row, home)  # an ended run (Failed, Stopped, Lost) makes way for a new one
    port = _port(row)
    write_config(name, host=row.host, port=port, password_hash=row.password_hash, home=home)
    if port != row.port:
        rows.update(name, home, port=port)
        row = rows.read(name, home)
    try:
        _submit(row, home)
    except BaseException:
        if row.state != rows.STOPPED:
            rows.update(name, home, state=rows.STOPPED)
        raise
    rows.update(name, home, state=rows.RUNNING)
    row = rows.read(name, home)
    return rows.to_workspace(row, rows.find_job(row, home))


def end_job(row: Any, home: str | None) -> None:
    """Delete the workspace's job (stopping its processes) and kill any leftover."""
    if rows.find_job(row, home) is not None:
        jobs.delete([row.job], project=row.project, home=home)
    record = workspace_dir(row.name, home) / PROCESSES_FILE
    left = proctree.end(processes.load(record), grace_s=1.0)
    if left:
        raise MlfabricError(f"workspace '{row.name}': processes "
                            f"{', '.join(str(p) for p, _ in left)} survived SIGKILL")
    record.unlink(missing_ok=True)


def stop_locked(name: str, home: str | None) -> Workspace:
    """Stop the workspace's job; the caller holds the lock."""
    row = rows.read(name, home)
    end_job(row, home)
    if row.state != rows.STOPPED:
        rows.update(name, home, state=rows.STOPPED)
    return rows.to_workspace(rows.read(name, home), None)


def start(name: str, *, home: str | None = None) -> Workspace:
    """Start a stopped workspace (again on its port when that is still free)."""
    check_name(name)
    with rows.locked(name, home):
        return start_locked(name, home)


def stop(name: str, *, home: str | None = None) -> Workspace:
    """Stop JupyterLab and its kernels; the volume and settings stay."""
    check_name(name)
    with rows.locked(name, home):
        return stop_locked(name, home)
