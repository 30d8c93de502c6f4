"""The dashboard's overview: cluster totals, GPUs per project against quota and fair
share, and the allocation history a background sampler keeps.

``summarize`` and ``sample`` are pure functions over the records the public API returns;
fair shares are the ones the last scheduling cycle saved, never recomputed here.
``overview`` is the operation ``GET /api/v1/overview``; ``visible`` cuts it down to what
a member may see. ``AllocationHistory`` and ``Sampler`` are the only parts with state or
a thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mlfabric.jobs import JobInfo
from mlfabric.nodes import NodeInfo
from mlfabric.projects import ProjectInfo

SAMPLE_EVERY_S = 2.0
HISTORY_S = 3600.0

Sees = Callable[[str], bool]
_log = logging.getLogger(__name__)


def _everyone(_project: str) -> bool:
    return True


def _round(x: float) -> float:
    return round(x, 3)


def _devices(node: NodeInfo, running: Iterable[JobInfo], sees: Sees) -> list[dict[str, Any]]:
    """Per GPU of ``node``: the fraction in use and which (visible) projects use it."""
    used = [0.0] * node.gpus
    users: list[list[str]] = [[] for _ in range(node.gpus)]
    for j in running:
        for p in j.placements:
            if p.get("node") != node.name:
                continue
            share = 1.0 if p.get("fraction") is None else float(p["fraction"])
            for g in p.get("gpus", []):
                if 0 <= g < node.gpus:
                    used[g] += share
                    if sees(j.project) and j.project not in users[g]:
                        users[g].append(j.project)
    return [{"index": i, "used": _round(min(1.0, used[i])), "projects": users[i]}
            for i in range(node.gpus)]


def summarize(nodes: Sequence[NodeInfo], projects: Sequence[ProjectInfo],
              jobs: Sequence[JobInfo], *, sees: Sees = _everyone,
              now: float | None = None) -> dict[str, Any]:
    """The overview as JSON: cluster totals for everyone, project rows and GPU owners
    only for the projects ``sees`` admits."""
    running = [j for j in jobs if j.state == "Running"]
    total = sum(n.gpus for n in nodes)
    allocated = sum(n.allocated for n in nodes)
    return {
        "time": time.time() if now is None else now,
        "sample_interval_s": SAMPLE_EVERY_S,
        "gpus": {"total": total, "allocated": _round(allocated),
                 "idle": _round(max(0.0, total - allocated))},
        "jobs": {"running": len(running),
                 "pending": sum(1 for j in jobs if j.state == "Pending")},
        "nodes": [{"name": n.name, "pool": n.pool, "runtime": n.runtime, "gpus": n.gpus,
                   "gpu_memory": n.gpu_memory, "allocated": _round(n.allocated),
                   "devices": _devices(n, running, sees)} for n in nodes],
        "projects": [{"name": p.name, "pool": p.pool, "quota": p.quota, "weight": p.weight,
                      "limit": p.limit, "allocated": _round(p.allocated),
                      "fair_share": _round(p.fair_share or 0.0), "running": p.running,
                      "pending": p.pending} for p in projects if sees(p.name)],
    }


def overview(*, since: float | None = None, home: str | None = None,
             history: AllocationHistory | None = None) -> dict[str, Any]:
    """Nodes, GPUs total/allocated/idle, jobs, GPUs per project against quota and the
    fair share of the last scheduling cycle, and allocation samples over time (every 2 s,
    the last hour) newer than ``since``."""
    from mlfabric import jobs, nodes, projects

    data = summarize(nodes.list(home=home), projects.list(home=home),
                     jobs.list(home=home, states=["Pending", "Running"]))
    data["history"] = [] if history is None else history.since(since)
    return data


def visible_overview(data: dict[str, Any], sees: Sees) -> dict[str, Any]:
    """``data`` as a member sees it: totals, and only its projects' rows and GPUs."""
    out = dict(data)
    out["projects"] = [p for p in data["projects"] if sees(p["name"])]
    out["nodes"] = [{**n, "devices": [{**d, "projects": [p for p in d["projects"] if sees(p)]}
                                      for d in n["devices"]]} for n in data["nodes"]]
    out["history"] = [visible(p, sees) for p in data.get("history", [])]
    return out


def sample(nodes: Sequence[NodeInfo], projects: Sequence[ProjectInfo],
           *, now: float) -> dict[str, Any]:
    """One point of the allocation history: capacity and GPUs allocated per project."""
    return {"time": now, "capacity": sum(n.gpus for n in nodes),
            "allocated": {p.name: _round(p.allocated) for p in projects}}


def visible(point: dict[str, Any], sees: Sees) -> dict[str, Any]:
    """A history point with only the projects ``sees`` admits."""
    return {**point, "allocated": {k: v for k, v in point["allocated"].items() if sees(k)}}


class AllocationHistory:
    """The last ``keep_s`` seconds of samples, safe to add to and read from any thread."""

    def __init__(self, keep_s: float = HISTORY_S, every_s: float = SAMPLE_EVERY_S) -> None:
        self._points: deque[dict[str, Any]] = deque(maxlen=int(keep_s / every_s) + 1)
        self._lock = threading.Lock()

    def add(self, point: dict[str, Any]) -> None:
        """Append a sample (oldest ones fall off)."""
        with self._lock:
            self._points.append(point)

    def since(self, after: float | None = None, *, sees: Sees = _everyone
              ) -> list[dict[str, Any]]:
        """Samples newer than ``after`` (all when None), oldest first."""
        with self._lock:
            points = [p for p in self._points if after is None or p["time"] > after]
        return [visible(p, sees) for p in points]


@dataclass
class Sampler:
    """Samples the catalog of ``home`` every ``every_s`` seconds into ``history``."""

    home: str | None
    history: AllocationHistory
    every_s: float = SAMPLE_EVERY_S

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample_once(self) -> None:
        """Read nodes and projects and append one point."""
        from mlfabric import nodes, projects

        point = sample(nodes.list(home=self.home), projects.list(home=self.home),
                       now=time.time())
        self.history.add(point)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample_once()
            except Exception:
                # A busy or migrating catalog must not end the history: log, try again.
                _log.exception("allocation sampler: reading the catalog failed")
            self._stop.wait(self.every_s)

    def start(self) -> None:
        """Start the sampling thread (once)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="mlfabric-sampler",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
