"""A workspace's processes recorded for ``workspace stop``: JupyterLab, its kernels and
terminals.

Kernels and terminals start in sessions of their own, so signalling the job's process
group does not reach them; the launcher therefore records every descendant as
(pid, kernel start time) and ``stop`` ends whatever of that list is still there. The
record names its pid namespace: a sandboxed launcher sees pids the host does not, so a
record from another namespace is ignored (the runtime's stop ends the sandbox's whole
tree, and its pid namespace dies with it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mlfabric.durable import atomic_write
from mlfabric.proctree import Proc


def _namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def save(path: Path, procs: list[Proc]) -> None:
    """Record ``procs`` for a later ``stop`` (temp + rename: never half written)."""
    record = {"pid_namespace": _namespace(), "processes": [list(p) for p in procs]}
    atomic_write(path, json.dumps(record), durable=False)


def load(path: Path) -> list[Proc]:
    """What ``save`` recorded in this pid namespace (nothing when the file is missing,
    unreadable or written in another namespace)."""
    try:
        record = json.loads(path.read_text())
        if record["pid_namespace"] != _namespace():
            return []
        return [(int(p), int(t)) for p, t in record["processes"]]
    except (FileNotFoundError, ValueError, TypeError, KeyError):
        return []
