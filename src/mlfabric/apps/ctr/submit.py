"""A training run or a report as a scheduler job: a Dask gang job (rank 0 the Dask
scheduler, the others its workers) whose command is the same ``mlfabric ctr`` command,
run next to the cluster with its address in ``MLFABRIC_DASK_ADDRESS``; the volumes that
hold the data and the output are mounted, and the output volume is snapshotted when the
job succeeds (model, metrics and data version recorded together)."""

from __future__ import annotations

import sys
from typing import Any

from mlfabric import jobs
from mlfabric.apps.ctr.training import data_version, volume_of
from mlfabric.errors import InvalidInput


def flags(options: dict[str, Any]) -> list[str]:
    """``{"rows": 10, "engine": "dask"}`` as ``--rows 10 --engine dask`` (None left out)."""
    out: list[str] = []
    for name, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        out += [flag] if value is True else [flag, str(value)]
    return out


def submit(name: str, *, project: str, command: str, data: str, options: dict[str, Any],
           out_path: str | None = None, processes: int = 3, gpus: float = 0.25,
           home: str | None = None) -> Any:
    """Queue ``mlfabric ctr COMMAND DATA OPTIONS`` as a Dask gang job of ``processes``
    ranks, each holding ``gpus`` of a GPU (the scheduler places GPU shares; the training
    itself runs on CPUs); ``out_path`` (a folder inside a volume) is where it writes and
    what is snapshotted on success."""
    mounts = []
    data_volume = volume_of(data, home)
    if data_volume is None:
        raise InvalidInput(f"a job reads only volumes: {data} is in none (make-data "
                           "--to-volume puts data in one)")
    mounts.append(data_volume)
    out_volume = None
    if out_path is not None:
        out_volume = volume_of(out_path, home)
        if out_volume is None:
            raise InvalidInput(f"a job writes only volumes: {out_path} is in none")
        if out_volume not in mounts:
            mounts.append(out_volume)
    options = {**options, "data_version": data_version(data, home)}
    argv = [sys.executable, "-m", "mlfabric.cli.main", "ctr", command, data, *flags(options)]
    return jobs.submit(name, project=project, processes=processes, engine="dask", gpus=gpus,
                       command=argv, volumes=mounts, snapshot_on_complete=out_volume,
                       home=home)
