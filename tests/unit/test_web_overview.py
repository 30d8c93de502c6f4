"""The dashboard overview: pure aggregation over node, project and job records, the fair
shares of the scheduling cycle, the allocation history, and the sampler over a real
catalog."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from mlfabric import jobs, nodes, projects, web
from mlfabric.jobs import JobInfo
from mlfabric.nodes import NodeInfo
from mlfabric.projects import ProjectInfo
from mlfabric.scheduler import Scheduler, Tick
from mlfabric.scheduler.builders import MakeJob, MakeNode, MakeProject
from mlfabric.web.overview import AllocationHistory, Sampler, sample, summarize

# ------------------------------------------------------------------ builders


def node(name: str, gpus: int = 8, *, allocated: float = 0.0, pool: str = "default",
         memory: int = 0) -> NodeInfo:
    return NodeInfo(name=name, pool=pool, gpus=gpus, gpu_memory=memory, runtime="sim",
                    detected=False, created_at=0.0, allocated=allocated)


def project(name: str, quota: float = 4, *, allocated: float = 0.0, running: int = 0,
            pending: int = 0, weight: float | None = None, limit: float | None = None,
            pool: str = "default") -> ProjectInfo:
    return ProjectInfo(name=name, quota=quota, weight=weight, limit=limit,
                       interactive_time_limit=None, pool=pool, created_at=0.0,
                       allocated=allocated, running=running, pending=pending)


def running(project: str, name: str, node: str, gpus: list[int], *, fraction: float | None = None,
            interactive: bool = False) -> JobInfo:
    held = fraction if fraction is not None else float(len(gpus))
    return JobInfo(project=project, name=name, state="Running",
                   gpus=fraction if fraction is not None else float(len(gpus)),
                   gpu_memory=None, processes=1, interactive=interactive,
                   preemptible=not interactive, command=[], submitted_at=0.0,
                   placements=[{"node": node, "gpus": gpus, "fraction": fraction}],
                   allocated=held, runtime="sim", started_at=1.0)


def pending(project: str, name: str, gpus: float | None = 1, *, processes: int = 1,
            interactive: bool = False, gpu_memory: int | None = None) -> JobInfo:
    return JobInfo(project=project, name=name, state="Pending",
                   gpus=None if gpu_memory else gpus, gpu_memory=gpu_memory,
                   processes=processes, interactive=interactive, preemptible=not interactive,
                   command=[], submitted_at=0.0, reason="waiting", reason_code="x")


def cluster() -> tuple[list[NodeInfo], list[ProjectInfo], list[JobInfo]]:
    """Two 8-GPU nodes; team-a runs 4 + 4 GPUs, team-b half a GPU and waits for 8."""
    js = [running("team-a", "a1", "node-1", [0, 1, 2, 3]),
          running("team-a", "a2", "node-1", [4, 5, 6, 7]),
          running("team-b", "nb", "node-2", [0], fraction=0.5, interactive=True),
          pending("team-b", "llm", 8)]
    ns = [node("node-1", allocated=8.0), node("node-2", allocated=0.5)]
    ps = [project("team-a", allocated=8.0, running=2),
          project("team-b", allocated=0.5, running=1, pending=1)]
    return ns, ps, js


# ------------------------------------------------------------------ summarize


def test_summary_counts_gpus_jobs_and_devices() -> None:
    ns, ps, js = cluster()
    out = summarize(ns, ps, js, now=123.0)
    assert out["time"] == 123.0
    assert out["gpus"] == {"total": 16, "allocated": 8.5, "idle": 7.5}
    assert out["jobs"] == {"running": 3, "pending": 1}
    assert [n["name"] for n in out["nodes"]] == ["node-1", "node-2"]
    n1, n2 = out["nodes"]
    assert [d["used"] for d in n1["devices"]] == [1.0] * 8
    assert {p for d in n1["devices"] for p in d["projects"]} == {"team-a"}
    assert n2["devices"][0] == {"index": 0, "used": 0.5, "projects": ["team-b"]}
    assert all(d["used"] == 0.0 and d["projects"] == [] for d in n2["devices"][1:])
    rows = {p["name"]: p for p in out["projects"]}
    assert rows["team-a"]["allocated"] == 8.0 and rows["team-a"]["quota"] == 4
    assert rows["team-b"]["running"] == 1 and rows["team-b"]["pending"] == 1


def test_member_sees_cluster_totals_but_only_its_projects() -> None:
    ns, ps, js = cluster()
    out = summarize(ns, ps, js, sees=lambda p: p == "team-b")
    assert [p["name"] for p in out["projects"]] == ["team-b"]
    assert out["gpus"]["allocated"] == 8.5  # capacity is not a secret, owners are
    n1, n2 = out["nodes"]
    assert [d["used"] for d in n1["devices"]] == [1.0] * 8
    assert all(d["projects"] == [] for d in n1["devices"])
    assert n2["devices"][0]["projects"] == ["team-b"]


def test_empty_cluster() -> None:
    out = summarize([], [], [])
    assert out["gpus"] == {"total": 0, "allocated": 0.0, "idle": 0.0}
    assert out["nodes"] == [] and out["projects"] == []


# ------------------------------------------------------------------ fair share
# The overview shows the fair shares the scheduling cycle computed and saved. These are
# the cases the dashboard once estimated on its own, now asserted on the scheduler
# itself: two 8-GPU nodes, quota 4 each unless said otherwise; jobs are submitted in
# order (earlier ones start while they fit), then one cycle runs.


def _job(project: str, name: str, gpus: float, *, processes: int = 1,
         interactive: bool = False) -> MakeJob:
    return MakeJob(name, project).gpus(gpus).processes(processes).interactive(interactive)


FAIR_SHARE_CASES: dict[str, tuple[list[MakeProject], list[MakeJob], dict[str, float]]] = {
    "a borrower alone gets what it asks": (
        [MakeProject("a").quota(4), MakeProject("b").quota(4)],
        [_job("a", "j1", 8), _job("a", "j2", 4)],
        {"a": 12.0, "b": 0.0}),
    "a claimant gets at least its quota back": (
        [MakeProject("a").quota(4), MakeProject("b").quota(4)],
        [_job("a", "j1", 8), _job("a", "j2", 8), _job("b", "j3", 8)],
        {"a": 8.0, "b": 8.0}),
    "over-quota capacity goes by weight": (
        [MakeProject("a").quota(4).weight(3), MakeProject("b").quota(4).weight(1)],
        [_job("a", "j1", 8), _job("a", "j2", 8), _job("b", "j3", 8), _job("b", "j4", 8)],
        {"a": 10.0, "b": 6.0}),
    "a job that can never fit claims nothing": (
        [MakeProject("a").quota(4), MakeProject("b").quota(4)],
        [_job("a", "huge", 12), _job("b", "j", 2)],
        {"a": 0.0, "b": 2.0}),
    "a gang that fits across nodes counts": (
        [MakeProject("a").quota(4), MakeProject("b").quota(4)],
        [_job("a", "gang", 8, processes=2)],
        {"a": 16.0, "b": 0.0}),
    "non-preemptible pending claims only the quota left": (
        [MakeProject("a").quota(4)],
        [_job("a", "nb", 1, interactive=True), _job("a", "big-nb", 6, interactive=True)],
        {"a": 4.0}),
    "a limit caps the share": (
        [MakeProject("a").quota(4).limit(5), MakeProject("b").quota(4)],
        [_job("a", "j1", 8), _job("a", "j2", 8)],
        {"a": 5.0, "b": 0.0}),
}


def _shares(nodes_: list[MakeNode], projects_: list[MakeProject],
            jobs_: list[MakeJob]) -> dict[str, float]:
    sched = Scheduler(validate=True)
    sched.handle(*(n.add() for n in nodes_), *(p.add() for p in projects_))
    for t, j in enumerate(jobs_):
        sched.handle(j.at(float(t)).submit(), Tick(float(t)))
    return {p.project.name: p.fair_share for p in sched.projects()}


@pytest.mark.parametrize("case", FAIR_SHARE_CASES)
def test_fair_share_of_the_cycle(case: str) -> None:
    ps, js, want = FAIR_SHARE_CASES[case]
    assert _shares([MakeNode("n1"), MakeNode("n2")], ps, js) == want


def test_fair_share_is_per_pool() -> None:
    ns = [MakeNode("n1"), MakeNode("big").gpus(4).pool("a100")]
    ps = [MakeProject("a").quota(4), MakeProject("b").quota(4).pool("a100")]
    js = [_job("a", "j1", 8), _job("b", "j2", 4), _job("b", "j3", 4)]
    assert _shares(ns, ps, js) == {"a": 8.0, "b": 4.0}


def test_the_overview_shows_the_cycles_saved_numbers(home: Path) -> None:
    """Weights change, the cycle recomputes, the overview follows; and what it shows is
    what the cycle saved (a saved number is shown as is), never its own estimate."""
    h = str(home)
    nodes.add("n1", gpus=8, runtime="sim", home=h)
    projects.create("a", quota=2, weight=3, home=h)
    projects.create("b", quota=2, weight=1, home=h)
    for name, project_ in (("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b")):
        jobs.submit(name, project=project_, gpus=4, home=h)

    def shown() -> dict[str, float]:
        return {p["name"]: p["fair_share"] for p in web.overview(home=h)["projects"]}

    def saved() -> dict[str, float]:
        return {p.project: p.fair_share for p in jobs.status(home=h).projects}

    assert shown() == saved() == {"a": 5.0, "b": 3.0}
    projects.update("b", weight=3, home=h)  # runs a cycle
    assert shown() == saved() == {"a": 4.0, "b": 4.0}
    from mlfabric.catalog import scheduler_schema as S
    from mlfabric.home import open_home

    open_home(h).catalog.run_write(lambda c: c.execute(
        S.project_shares.update().where(S.project_shares.c.project == "a")
        .values(fair_share=1.25)))
    assert shown()["a"] == 1.25


# ------------------------------------------------------------------ history and sampler


def test_history_keeps_the_last_window_and_filters_by_project() -> None:
    hist = AllocationHistory(keep_s=10, every_s=2)  # room for 6 samples
    ns, ps, _ = cluster()
    for t in range(10):
        hist.add(sample(ns, ps, now=float(t)))
    points = hist.since()
    assert [p["time"] for p in points] == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert points[0] == {"time": 4.0, "capacity": 16,
                         "allocated": {"team-a": 8.0, "team-b": 0.5}}
    assert [p["time"] for p in hist.since(7.0)] == [8.0, 9.0]
    member = hist.since(8.0, sees=lambda p: p == "team-a")
    assert member == [{"time": 9.0, "capacity": 16, "allocated": {"team-a": 8.0}}]


def _wait_for(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_sampler_records_allocation_from_the_catalog(home: Path) -> None:
    h = str(home)
    nodes.add("node-1", gpus=4, runtime="sim", home=h)
    projects.create("team-a", quota=2, home=h)
    sampler = Sampler(h, AllocationHistory(), every_s=0.05)
    sampler.start()
    try:
        _wait_for(lambda: len(sampler.history.since()) >= 2)
        assert sampler.history.since()[-1]["allocated"] == {"team-a": 0.0}
        jobs.submit("train", project="team-a", gpus=3, home=h)
        _wait_for(lambda: sampler.history.since()[-1]["allocated"] == {"team-a": 3.0})
    finally:
        sampler.stop()
    count = len(sampler.history.since())
    time.sleep(0.2)
    assert len(sampler.history.since()) == count  # stopped means stopped
    assert sampler.history.since()[-1]["capacity"] == 4
