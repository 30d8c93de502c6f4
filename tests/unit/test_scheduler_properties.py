"""Random workloads: invariants hold after every step, reclaims respect quotas, no ping-pong.

Hypothesis draws the cluster and projects and a seed; the seed drives 200 cycles of
random submits, deletes, finishes and node changes (a seed keeps the example small
enough for Hypothesis's buffer; a failure prints the config and seed to replay). Every
cycle is a tick followed by a quiet tick with no events in between, so a reclaim in the
first can be checked not to be reversed in the second.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from mlfabric.scheduler import (
    AddNode,
    AddProject,
    Delete,
    Event,
    Finish,
    Instruction,
    Job,
    Node,
    Preempt,
    Project,
    RemoveNode,
    Scheduler,
    Start,
    Stop,
    Submit,
    Tick,
    UpdateNode,
)

POOLS = ("default", "p2")
SIZES = (0.25, 0.5, 0.6, 1, 1, 1, 2, 2, 4, 8)

projects_st = st.lists(
    st.builds(lambda quota, weight, limit, pool: (quota, weight, limit, pool),
              st.integers(0, 6), st.one_of(st.none(), st.integers(0, 4)),
              st.one_of(st.none(), st.integers(6, 12)), st.sampled_from(POOLS)),
    min_size=2, max_size=5)
nodes_st = st.lists(st.tuples(st.sampled_from((1, 2, 4, 8)), st.sampled_from(POOLS)),
                    min_size=1, max_size=4)


def _gpus(placements: tuple) -> float:  # type: ignore[type-arg]
    return sum(p.fraction if p.fraction is not None else len(p.gpus) for p in placements)


class World:
    """A scheduler plus the random driver's view of it."""

    def __init__(self, projects: list[tuple[int, int | None, int | None, str]],
                 nodes: list[tuple[int, str]], seed: int) -> None:
        self.rng = random.Random(seed)
        self.sched = Scheduler(validate=True)
        self.quota = {f"p{i}": q for i, (q, _, _, _) in enumerate(projects)}
        self.sched.handle(*[AddProject(Project(f"p{i}", quota=q, weight=w, limit=lim,
                                               interactive_time_limit=600, pool=pool))
                            for i, (q, w, lim, pool) in enumerate(projects)])
        self.node_seq = 0
        for gpus, pool in nodes:
            self.add_node(gpus, pool)
        self.job_seq = 0
        self.now = 0.0

    def add_node(self, gpus: int, pool: str) -> None:
        self.node_seq += 1
        self.sched.handle(AddNode(Node(f"n{self.node_seq}", gpus, 80 * 2**30, pool)))

    def random_event(self) -> Event | None:
        rng = self.rng
        jobs = self.sched.jobs()
        nodes = self.sched.nodes()
        kind = rng.choices(("submit", "delete", "finish", "node"), (8, 2, 3, 1))[0]
        if kind == "submit":
            self.job_seq += 1
            size = rng.choice(SIZES)
            processes = rng.choice((1, 1, 1, 2)) if size >= 1 else rng.choice((1, 1, 1, 3))
            interactive = rng.random() < 0.25
            return Submit(Job(f"j{self.job_seq}", rng.choice(sorted(self.quota)), gpus=size,
                              interactive=interactive, processes=processes,
                              preemptible=True if interactive and rng.random() < 0.3 else None,
                              submit_time=self.now))
        if kind == "delete" and jobs:
            return Delete(*rng.choice(jobs).job.key)
        running = [j for j in jobs if j.status == "running"]
        if kind == "finish" and running:
            return Finish(*rng.choice(running).job.key)
        if kind == "node":
            roll = rng.random()
            if roll < 0.4 or not nodes:
                self.add_node(rng.choice((1, 2, 4, 8)), rng.choice(POOLS))
                return None
            node = rng.choice(nodes).node
            if roll < 0.7 and len(nodes) > 1:
                return RemoveNode(node.name)
            return UpdateNode(Node(node.name, rng.choice((1, 2, 4, 8)), node.gpu_memory,
                                   node.pool))
        return None

    def tick(self) -> list[Instruction]:
        """Tick, and check every cross-project preemption hit a project above its quota."""
        alloc = {p.project.name: p.allocated for p in self.sched.projects()}
        held = {j.job.key: j.allocated for j in self.sched.jobs() if j.status == "running"}
        self.now += self.rng.choice((1.0, 30.0, 300.0))
        out = self.sched.handle(Tick(self.now))
        seen_groups: set[tuple[str, str]] = set()
        snapshot = dict(alloc)
        for ins in out:
            key = (ins.project, ins.job)
            if isinstance(ins, Preempt):
                if ins.by_project is not None and ins.by_project != ins.project:
                    assert ins.by_job is not None
                    group = (ins.by_project, ins.by_job)
                    if group not in seen_groups:
                        seen_groups.add(group)
                        snapshot = dict(alloc)
                    assert snapshot[ins.project] > self.quota[ins.project] + 1e-9, (
                        f"{key} preempted while its project held {snapshot[ins.project]} "
                        f"<= quota {self.quota[ins.project]}")
                alloc[ins.project] -= held.pop(key)
            elif isinstance(ins, Start):
                held[key] = _gpus(ins.placements)
                alloc[ins.project] += held[key]
            elif isinstance(ins, Stop):
                alloc[ins.project] -= held.pop(key)
        now = {p.project.name: p.allocated for p in self.sched.projects()}
        assert alloc == pytest.approx(now)
        for job in self.sched.jobs():
            if job.status == "pending":
                assert job.reason is not None and job.reason.code != "new"
        return out


def _reclaims(out: list[Instruction]) -> set[tuple[str, str]]:
    """(reclaiming project, victim project) pairs."""
    return {(i.by_project, i.project) for i in out if isinstance(i, Preempt)
            and i.by_project is not None and i.by_project != i.project}


# No shrinking: the seed drives the cycles, so shrinking it would only cost time.
@settings(max_examples=30, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(projects=projects_st, nodes=nodes_st, seed=st.integers(0, 2**32 - 1))
def test_random_workloads_keep_invariants_and_never_ping_pong(
        projects: list[tuple[int, int | None, int | None, str]],
        nodes: list[tuple[int, str]], seed: int) -> None:
    world = World(projects, nodes, seed)
    for _ in range(200):
        for _ in range(world.rng.choice((0, 1, 2, 3))):
            event = world.random_event()
            if event is not None:
                world.sched.handle(event)
        first = _reclaims(world.tick())
        quiet = world.tick()
        reversed_ = {(p, q) for p, q in _reclaims(quiet) if (q, p) in first}
        assert not reversed_, f"reclaims reversed in the next cycle: {reversed_}"
    world.sched.validate()


def test_random_workloads_do_reclaim() -> None:
    """The property above is not vacuous: this fixed seed exercises reclaims."""
    world = World([(2, None, None, "default"), (2, None, None, "default"),
                   (0, None, None, "default")], [(4, "default"), (8, "default")], seed=7)
    count = 0
    for _ in range(200):
        for _ in range(world.rng.choice((0, 1, 2, 3))):
            event = world.random_event()
            if event is not None:
                world.sched.handle(event)
        count += len(_reclaims(world.tick()))
        world.tick()
    assert count > 0
