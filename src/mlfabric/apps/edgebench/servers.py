"""Inference servers behind the SUT: ``N`` ``mlfabric inference`` servers on the model
repository volume, each a scheduled job, each pinned to its own core(s) so two servers
do not fight over one."""

from __future__ import annotations

import contextlib
import os

from mlfabric import proctree
from mlfabric.errors import InvalidInput


def process_tree(pids: list[int]) -> list[int]:
    """These processes and all their descendants."""
    return [*pids, *(p for pid in pids for p, _ in proctree.descendants(pid))]


def pin(pids: list[int], cores: set[int]) -> int:
    """Pin every thread of these process trees to ``cores``; threads pinned."""
    done = 0
    for pid in process_tree(pids):
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task), cores)
                    done += 1
    return done


def cores_for(index: int, count: int) -> set[int]:
    """Server ``index`` of ``count``: its share of this process's cores (server 0 of 2 on
    a 2-core machine: core 0; with 8 cores: cores 0-3)."""
    cpus = sorted(os.sched_getaffinity(0))
    if count > len(cpus):
        return set(cpus)
    share = len(cpus) // count
    return set(cpus[index * share:(index + 1) * share])


def start_servers(prefix: str, *, repo: str, count: int, project: str,
                  gpus: float | None = None, pin_cores: bool = True,
                  home: str | None = None) -> list[str]:
    """Start servers ``PREFIX-1``..``PREFIX-N`` on ``repo``; their names (the target is
    ``inference:`` and the names joined by commas)."""
    from mlfabric import jobs, serving  # type: ignore[attr-defined]

    if count < 1:
        raise InvalidInput("give at least one server", field="servers", value=count)
    names = [f"{prefix}-{i + 1}" for i in range(count)]
    for i, name in enumerate(names):
        server = serving.create(name, model_repo=repo, project=project, gpus=gpus, home=home)
        if pin_cores:
            info = jobs.get(server.job, project=project, home=home)
            pin(list(info.pids), cores_for(i, count))
    return names


def stop_servers(names: list[str], *, home: str | None = None) -> None:
    from mlfabric import serving  # type: ignore[attr-defined]

    for name in names:
        serving.delete(name, home=home)
