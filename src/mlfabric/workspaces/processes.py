"""A workspace's processes as /proc shows them: JupyterLab, its kernels and terminals.

Kernels and terminals start in sessions of their own, so signalling the job's process
group does not reach them; the launcher therefore records every descendant as
(pid, kernel start time) and ``stop`` ends whatever of that list is still there. The
start time (``/proc/PID/stat`` field 22) tells a survivor from a reused pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

from mlfabric.durable import atomic_write

Proc = tuple[int, int]  # (pid, kernel start time in clock ticks)


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text.rsplit(")", 1)[1].split()


def start_time(pid: int) -> int | None:
    """The kernel start time of ``pid``, or None if it is gone (or a zombie)."""
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":
        return None
    return int(fields[19])


def descendants(pid: int) -> list[Proc]:
    """Every living process below ``pid`` (children, theirs, ...), parents first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    out: list[Proc] = []
    todo = list(children.get(pid, ()))
    while todo:
        child = todo.pop(0)
        started = start_time(child)
        if started is not None:
            out.append((child, started))
        todo += children.get(child, ())
    return out


def alive(procs: list[Proc]) -> list[Proc]:
    """The processes of ``procs`` that still run (same pid, same start time)."""
    return [p for p in procs if start_time(p[0]) == p[1]]


def end(procs: list[Proc], *, grace_s: float) -> list[Proc]:
    """SIGTERM ``procs``, SIGKILL what is left after ``grace_s``; returns survivors."""
    live = alive(procs)
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        for pid, _ in live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while live and time.monotonic() < deadline:
            time.sleep(0.02)
            live = alive(live)
        if not live:
            break
    return live


def save(path: Path, procs: list[Proc]) -> None:
    """Record ``procs`` for a later ``stop`` (temp + rename: never half written)."""
    atomic_write(path, json.dumps([list(p) for p in procs]), durable=False)


def load(path: Path) -> list[Proc]:
    """What ``save`` recorded (nothing when the file is missing or unreadable)."""
    try:
        return [(int(p), int(t)) for p, t in json.loads(path.read_text())]
    except (FileNotFoundError, ValueError, TypeError):
        return []
