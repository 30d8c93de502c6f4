"""Processes as ``/proc`` shows them: a pid with its kernel start time (``/proc/PID/stat``
field 22) names one process for good, so a pid the kernel reused is never mistaken for
it. Trees are found by parent pid, across sessions, groups and pid namespaces (a
sandbox's processes are descendants of its bubblewrap on the host).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import NamedTuple

Proc = tuple[int, int]  # (pid, kernel start time in clock ticks)


class Stat(NamedTuple):
    start: int  # kernel start time in clock ticks
    state: str  # "R", "S", ... "Z" for a zombie
    ppid: int
    pgid: int


def stat(pid: int) -> Stat | None:
    """What ``/proc/PID/stat`` says of ``pid``, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return Stat(int(fields[19]), fields[0], int(fields[1]), int(fields[2]))


def start_time(pid: int) -> int | None:
    """The kernel start time of ``pid``, or None if it is gone (or a zombie)."""
    found = stat(pid)
    if found is None or found.state == "Z":
        return None
    return found.start


def in_group(procs: list[Proc], pgid: int) -> list[Proc]:
    """The processes of ``procs`` in process group ``pgid`` now."""
    return [p for p in procs if (s := stat(p[0])) is not None and s.pgid == pgid]


def descendants(pid: int) -> list[Proc]:
    """Every living process below ``pid`` (children, theirs, ...), parents first."""
    children: dict[int, list[Proc]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = stat(int(entry))
            if found is not None and found.state != "Z":
                children.setdefault(found.ppid, []).append((int(entry), found.start))
    out: list[Proc] = []
    todo = list(children.get(pid, ()))
    while todo:
        child = todo.pop(0)
        out.append(child)
        todo += children.get(child[0], ())
    return out


def alive(procs: list[Proc]) -> list[Proc]:
    """The processes of ``procs`` that still run (same pid, same start time)."""
    return [p for p in procs if start_time(p[0]) == p[1]]


def kill(procs: list[Proc], sig: int) -> None:
    """Send ``sig`` to those of ``procs`` that still run."""
    for pid, _ in alive(procs):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def wait_gone(procs: list[Proc], timeout_s: float) -> list[Proc]:
    """Wait up to ``timeout_s`` for ``procs`` to end; those still running."""
    deadline = time.monotonic() + timeout_s
    live = alive(procs)
    while live and time.monotonic() < deadline:
        time.sleep(0.02)
        live = alive(live)
    return live


def end(procs: list[Proc], *, grace_s: float) -> list[Proc]:
    """SIGTERM ``procs``, SIGKILL what is left after ``grace_s``; returns survivors."""
    kill(procs, signal.SIGTERM)
    live = wait_gone(procs, grace_s)
    kill(live, signal.SIGKILL)
    return wait_gone(live, 5.0)
