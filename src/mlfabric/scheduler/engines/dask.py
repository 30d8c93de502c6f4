"""Dask clusters as gang jobs: rank 0 is the Dask scheduler, ranks 1..N-1 its workers.

Each rank runs distributed's own commands (``dask scheduler``, ``dask worker``) through
the interpreter mlfabric runs on, bound to 127.0.0.1, on ports the operating system
picks; the scheduler writes its address to a file in the job's folder (``dask scheduler
--scheduler-file``), which the workers wait for and read. With a command, rank 0 runs it
once the scheduler and all workers are up (``dask_driver``), with the address in
``MLFABRIC_DASK_ADDRESS``; the run ends with it. Workers run without a nanny: the
runtime is their process manager, and they end with the job.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from mlfabric.errors import InvalidInput
from mlfabric.extras import MissingExtra

SCHEDULER_FILE = "dask-scheduler.json"
ADDRESS_ENV = "MLFABRIC_DASK_ADDRESS"
HOST = "127.0.0.1"
_ADDRESS = re.compile(r"^tcp://127\.0\.0\.1:(\d{1,5})$")
_MAX_FILE = 64 * 1024


def check(processes: int) -> None:
    """A Dask cluster needs its scheduler and at least one worker."""
    if not isinstance(processes, int) or processes < 2:
        raise InvalidInput(f"a Dask cluster needs a scheduler and at least one worker: "
                           f"--processes 2 or more (got {processes})", field="processes",
                           value=processes)


def scheduler_file(job_dir: Path) -> Path:
    """Where the scheduler of the job's current run writes its address."""
    return job_dir / SCHEDULER_FILE


def scheduler_argv(python: str, sched_file: Path | str) -> list[str]:
    """``dask scheduler`` on loopback, its port and dashboard port picked by the system."""
    return [python, "-m", "dask", "scheduler", "--host", HOST, "--port", "0",
            "--dashboard-address", f"{HOST}:0", "--scheduler-file", str(sched_file)]


def worker_argv(python: str, sched_file: Path | str, name: str,
                gpus: float | None) -> list[str]:
    """``dask worker`` on loopback, connecting to the scheduler named in ``sched_file``;
    it declares the GPUs of its rank as the ``GPU`` resource tasks can ask for."""
    argv = [python, "-m", "dask", "worker", "--scheduler-file", str(sched_file),
            "--host", HOST, "--dashboard-address", f"{HOST}:0", "--no-nanny",
            "--name", name]
    amount = 1.0 if gpus is None else float(gpus)
    return [*argv, "--resources", f"GPU={amount:g}"]


def rank_command(rank: int, ranks: int, command: Sequence[str], job_dir: Path,
                 gpus: float | None, python: str) -> list[str]:
    """What rank ``rank`` of a Dask cluster of ``ranks`` processes runs."""
    if importlib.util.find_spec("distributed") is None:  # where it runs, without importing
        raise MissingExtra("distributed", "dask")
    sched_file = scheduler_file(job_dir)
    if rank > 0:
        return worker_argv(python, sched_file, f"rank-{rank}", gpus)
    if not command:
        return scheduler_argv(python, sched_file)
    return [python, "-m", "mlfabric.scheduler.engines.dask_driver", str(sched_file),
            str(ranks - 1), "--", *command]


def client_env(address: str) -> dict[str, str]:
    """What a program needs to reach the cluster: ``distributed.Client()`` with no
    argument reads ``DASK_SCHEDULER_ADDRESS``."""
    return {ADDRESS_ENV: address, "DASK_SCHEDULER_ADDRESS": address}


def read_address(sched_file: Path) -> tuple[str, int | None] | None:
    """The scheduler's address and dashboard port from its file, or None while it has
    not written one. The file is the job's to write: it is read without following a
    link, only if it is a small regular file, and only a loopback address is taken."""
    try:
        fd = os.open(sched_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        raw = f.read(_MAX_FILE + 1)
    if len(raw) > _MAX_FILE:
        return None
    try:
        data = json.loads(raw)
        address = data["address"]
    except (ValueError, KeyError, TypeError):
        return None  # not written yet (or not by the scheduler)
    if not isinstance(address, str) or not _ADDRESS.match(address):
        return None
    port = None
    with contextlib.suppress(KeyError, TypeError, ValueError):
        port = int(data["services"]["dashboard"])
    return address, port if port is not None and 0 < port < 65536 else None


def endpoints(job_dir: Path) -> dict[str, str]:
    """The running cluster's scheduler address and dashboard link (empty until up)."""
    found = read_address(scheduler_file(job_dir))
    if found is None:
        return {}
    address, port = found
    out = {"scheduler": address}
    if port is not None:
        out["dashboard"] = f"http://{HOST}:{port}/status"
    return out
