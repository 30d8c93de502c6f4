"""Engines: what each rank of a gang job runs when the job names one (``--engine``).

A plain job runs its command on every rank. An engine gives each rank a role instead (for
``dask``: rank 0 the Dask scheduler, the others its workers), as commands any runtime
starts the way it starts a rank, with the placement the scheduler chose for that rank;
the runtime asks here which rank's end ends the run (``leader``), what to clear before a
run starts (``prepare``), and what the running engine publishes (``endpoints``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlfabric.errors import InvalidInput
from mlfabric.scheduler.engines import dask

ENGINES = ("dask",)


def check(engine: str | None, processes: int, command: Sequence[str]) -> str | None:
    """``engine`` if it can run ``processes`` ranks (and ``command``), else ``InvalidInput``."""
    if engine is None:
        return None
    if engine not in ENGINES:
        raise InvalidInput(f"unknown engine '{engine}': expected one of {', '.join(ENGINES)}",
                           field="engine", value=engine)
    dask.check(processes)
    return engine


def rank_commands(spec: dict[str, Any], job_dir: Path, ranks: int,
                  python: str = sys.executable) -> list[list[str]]:
    """The command of each rank: the job's own on every rank, or its engine's roles."""
    command = [str(c) for c in spec.get("command") or []]
    if spec.get("engine") != "dask":
        return [command] * ranks
    return [dask.rank_command(rank, ranks, command, job_dir, spec.get("gpus"), python)
            for rank in range(ranks)]


def leader(spec: dict[str, Any]) -> int | None:
    """The rank whose end ends the run with its exit code (the others are its services),
    or None: the run ends when every rank has (or fails when one does)."""
    return 0 if spec.get("engine") == "dask" and spec.get("command") else None


def prepare(spec: dict[str, Any], job_dir: Path) -> None:
    """Clear what a previous run of the job left that the new one must not read."""
    if spec.get("engine") == "dask":
        dask.scheduler_file(job_dir).unlink(missing_ok=True)


def endpoints(spec: dict[str, Any], job_dir: Path) -> dict[str, str]:
    """What a running engine publishes (Dask: its scheduler's address and dashboard)."""
    if spec.get("engine") == "dask":
        return dask.endpoints(job_dir)
    return {}


def variables(spec: dict[str, Any], job_dir: Path) -> dict[str, str]:
    """Variables a command run next to the job needs to reach its engine."""
    found = endpoints(spec, job_dir)
    return dask.client_env(found["scheduler"]) if "scheduler" in found else {}
