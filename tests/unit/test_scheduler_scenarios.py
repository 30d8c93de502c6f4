"""Acceptance scenarios of the scheduler issue, replayed at the policy level.

Each case is a list of steps: events, then one ``Tick``, then what must hold: GPUs per
project, which jobs started, were preempted or stopped, and why others are pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mlfabric.scheduler import (
    Delete,
    Event,
    Instruction,
    Preempt,
    Scheduler,
    Start,
    Stop,
    Tick,
)
from mlfabric.scheduler.builders import MakeJob, MakeNode, MakeProject


@dataclass
class Step:
    events: list[Event | MakeJob] = field(default_factory=list)
    now: float | None = None  # default: one second after the previous tick
    allocated: dict[str, float] | None = None  # project -> GPUs after the tick
    started: set[str] | None = None  # "project/job" started by this tick
    preempted: set[str] | None = None
    stopped: set[str] | None = None
    pending: dict[str, str] = field(default_factory=dict)  # job -> reason substring
    reasons: dict[str, str] = field(default_factory=dict)  # job -> the whole reason
    nothing_pending: bool = False
    check: Any = None  # callable(scheduler, instructions) for anything else


def jobs(project: str, *sizes: float | str, start: int = 0) -> list[MakeJob]:
    """Jobs ``<project>-<n>``; a size like ``"0.6i"`` is interactive."""
    out = []
    for n, size in enumerate(sizes, start=start):
        interactive = isinstance(size, str)
        gpus = float(str(size).rstrip("i"))
        out.append(MakeJob(f"{project}-{n}", project).gpus(gpus).interactive(interactive))
    return out


def refs(out: list[Instruction], kind: type) -> set[str]:
    return {f"{i.project}/{i.job}" for i in out if isinstance(i, kind)}


def run(setup: list[Event], steps: list[Step]) -> Scheduler:
    sched = Scheduler(validate=True)
    sched.handle(*setup)
    clock = 0.0
    submitted = 0
    for i, step in enumerate(steps):
        events: list[Event] = []
        for ev in step.events:
            if isinstance(ev, MakeJob):  # submit in list order: later jobs are newer
                submitted += 1
                ev = ev.at(clock + submitted * 1e-3).submit()
            events.append(ev)
        sched.handle(*events)
        clock = step.now if step.now is not None else clock + 1
        out = sched.handle(Tick(clock))
        where = f"step {i}"
        if step.allocated is not None:
            got = {p: sched.allocated(p) for p in step.allocated}
            assert got == pytest.approx(step.allocated), where
        for kind, want in ((Start, step.started), (Preempt, step.preempted),
                           (Stop, step.stopped)):
            if want is not None:
                assert refs(out, kind) == want, f"{where}: {kind.__name__}"
        for ref, text in step.pending.items():
            reason = sched.why_pending(*ref.split("/"))
            assert reason is not None and text in reason, f"{where}: {ref}: {reason!r}"
        for ref, text in step.reasons.items():
            assert sched.why_pending(*ref.split("/")) == text, f"{where}: {ref}"
        if step.nothing_pending:
            waiting = [j.job.key for j in sched.jobs() if j.status == "pending"]
            assert waiting == [], where
        if step.check is not None:
            step.check(sched, out)
    return sched


def nodes(count: int, gpus: int = 8) -> list[Event]:
    return [MakeNode(f"n{i}").gpus(gpus).add() for i in range(1, count + 1)]


def projects(**quotas: float) -> list[Event]:
    return [MakeProject(name.replace("_", "-")).quota(q).add() for name, q in quotas.items()]


def _gang_placed_on_two_nodes(sched: Scheduler, out: list[Instruction]) -> None:
    start = next(i for i in out if isinstance(i, Start) and i.job == "g-0")
    assert sorted(p.node for p in start.placements) == ["n1", "n2"]
    assert all(len(p.gpus) == 8 for p in start.placements)


def _shared_gpu(*names: str, same: bool) -> Any:
    def check(sched: Scheduler, out: list[Instruction]) -> None:
        where = {(p.node, p.gpus) for i in out if isinstance(i, Start) and i.job in names
                 for p in i.placements}
        assert (len(where) == 1) == same, where
    return check


REFERENCE = (
    nodes(2) + projects(team_a=4, team_b=2, team_c=2, team_d=8),
    [
        Step(jobs("team-a", "1i", 1, 2) + jobs("team-b", "0.6i", "0.4i", 1, 2)
             + jobs("team-c", "0.5i", "0.3i", "0.2i", 2, 1) + jobs("team-d", 4),
             allocated={"team-a": 4, "team-b": 4, "team-c": 4, "team-d": 4},
             nothing_pending=True),
        Step(jobs("team-d", 2, 2, start=1),
             preempted={"team-b/team-b-3", "team-c/team-c-3"},
             started={"team-d/team-d-1", "team-d/team-d-2"},
             allocated={"team-a": 4, "team-b": 2, "team-c": 2, "team-d": 8},
             pending={"team-b/team-b-3": "preempted for team-d/"}),
        Step(jobs("team-a", 2, 2, start=3) + jobs("team-b", 2, start=4)
             + jobs("team-c", 2, start=5),
             started=set(), preempted=set(),
             allocated={"team-a": 4, "team-b": 2, "team-c": 2, "team-d": 8},
             pending={"team-a/team-a-3": "project team-a is at its fair share (4/4 GPUs)",
                      "team-a/team-a-4": "no node with 2 free GPUs in pool default",
                      "team-b/team-b-4": "project team-b is at its fair share (2/2 GPUs)",
                      "team-b/team-b-3": "project team-b is at its fair share (2/2 GPUs)",
                      "team-c/team-c-5": "project team-c is at its fair share (2/2 GPUs)"}),
        Step([Delete("team-d", f"team-d-{n}") for n in range(3)],
             allocated={"team-a": 8, "team-b": 4, "team-c": 4, "team-d": 0}, preempted=set()),
        Step(started=set(), preempted=set(),
             allocated={"team-a": 8, "team-b": 4, "team-c": 4, "team-d": 0}),
    ],
)

SCENARIOS = {
    "reference": REFERENCE,
    "quotas 3:1 on an idle cluster flooded at once": (
        nodes(1, gpus=4) + projects(a=3, b=1),
        [Step(jobs("a", *[1] * 8) + jobs("b", *[1] * 8), allocated={"a": 3, "b": 1})],
    ),
    "quotas 3:1 when b floods after a borrowed everything": (
        nodes(1, gpus=4) + projects(a=3, b=1),
        [Step(jobs("a", *[1] * 8), allocated={"a": 4, "b": 0}),
         Step(jobs("b", *[1] * 8), allocated={"a": 3, "b": 1}, preempted={"a/a-3"},
              pending={"a/a-4": "project a is at its fair share (3/3 GPUs)"}),
         Step(allocated={"a": 3, "b": 1}, preempted=set(), started=set())],
    ),
    "interactive beyond quota waits on an idle cluster": (
        nodes(1, gpus=4) + projects(a=1),
        [Step(jobs("a", "2i"), allocated={"a": 0},
              pending={"a/a-0": "runs only within its project's quota"}),
         Step([MakeJob("a-1", "a").gpus(2).interactive().preemptible()],
              started={"a/a-1"}, allocated={"a": 2})],
    ),
    "in-quota interactive preempts its own project's training": (
        nodes(1, gpus=4) + projects(a=3, b=1),
        [Step(jobs("a", 1, 1, 1) + jobs("b", 1), allocated={"a": 3, "b": 1}),
         Step(jobs("a", "1i", start=3), started={"a/a-3"}, preempted={"a/a-2"},
              allocated={"a": 3, "b": 1},
              pending={"a/a-2": "within the project's quota"})],
    ),
    "0.5 + 0.5 share one GPU": (
        nodes(1, gpus=2) + projects(a=2),
        [Step(jobs("a", 0.5, 0.5), allocated={"a": 1},
              check=_shared_gpu("a-0", "a-1", same=True))],
    ),
    "0.6 + 0.5 do not share a GPU": (
        nodes(1, gpus=2) + projects(a=2),
        [Step(jobs("a", 0.6, 0.5), allocated={"a": 1.1},
              check=_shared_gpu("a-0", "a-1", same=False))],
    ),
    "gang 2x8 starts whole or not at all, and is preempted whole": (
        nodes(2) + projects(g=0, h=8, blocker=0),
        [Step(jobs("blocker", 1), allocated={"blocker": 1}),
         Step([MakeJob("g-0", "g").gpus(8).processes(2)], started=set(), allocated={"g": 0},
              pending={"g/g-0": "fair share (0/15 GPUs, the job needs 16)"}),
         Step([Delete("blocker", "blocker-0")], started={"g/g-0"}, allocated={"g": 16},
              check=_gang_placed_on_two_nodes),
         Step(jobs("h", 1), preempted={"g/g-0"}, started={"h/h-0"},
              allocated={"g": 0, "h": 1},
              pending={"g/g-0": "preempted for h/h-0"}),
         Step(allocated={"g": 0, "h": 1}, started=set(),
              # h/h-0 runs within h's quota: only free nodes help, whatever g's share.
              reasons={"g/g-0": "no room for all 2 processes x 8 GPUs in pool default: "
                                "each process needs 8 free GPUs on one node and there is "
                                "room for 1 (a gang starts whole or not at all)"})],
    ),
    "interactive job past its project's time limit is stopped": (
        [*nodes(1), MakeProject("a").quota(4).interactive_limit("1h").add()],
        [Step(jobs("a", "1i", 1), now=0, started={"a/a-0", "a/a-1"}),
         Step(now=3599, stopped=set()),
         Step(now=3600, stopped={"a/a-0"}, allocated={"a": 1}),
         Step(now=90000, stopped=set(), allocated={"a": 1})],
    ),
    "kueue fair sharing with weight = quota": (
        nodes(3, gpus=3) + projects(a=3, b=3, c=3),
        [Step(jobs("a", *[1] * 10), allocated={"a": 9, "b": 0, "c": 0}),
         Step(jobs("b", *[1] * 5), allocated={"a": 5, "b": 4, "c": 0},
              preempted={"a/a-5", "a/a-6", "a/a-7", "a/a-8"}),
         Step(jobs("c", 1), allocated={"a": 4, "b": 4, "c": 1}, preempted={"a/a-4"}),
         Step(allocated={"a": 4, "b": 4, "c": 1}, preempted=set(), started=set())],
    ),
    # KAI-Scheduler docs/priority: queue "test" limited to 1 GPU; a build (interactive,
    # non-preemptible) pod within quota replaces the running train pod.
    "kai limited queue: in-quota build preempts its own train at the limit": (
        [*nodes(1, gpus=2), MakeProject("test").quota(1).limit(1).add()],
        [Step([MakeJob("train", "test")], started={"test/train"}, allocated={"test": 1}),
         Step([MakeJob("build", "test").interactive()], started={"test/build"},
              preempted={"test/train"}, allocated={"test": 1},
              reasons={"test/train": "preempted for test/build (a non-preemptible job "
                                     "within the project's quota); waiting to run again"}),
         Step(started=set(), preempted=set(), allocated={"test": 1},
              reasons={"test/train": "project test would exceed its limit of 1 GPU "
                                     "(1 allocated, the job needs 1)"}),
         Step([Delete("test", "build")], started={"test/train"}, allocated={"test": 1})],
    ),
    "limit: an in-quota interactive job evicts only what the limit needs": (
        [*nodes(1, gpus=8), MakeProject("a").quota(2).limit(4).add()],
        [Step(jobs("a", 1, 1, 2), allocated={"a": 4}),
         Step(jobs("a", "2i", start=3), started={"a/a-3"}, preempted={"a/a-2"},
              allocated={"a": 4}),
         Step(started=set(), preempted=set(), allocated={"a": 4})],
    ),
    # KAI-Scheduler docs/fairness, quota reclaim: a queue under its quota takes back only
    # what another queue holds over its own quota.
    "kai quota reclaim takes only over-quota GPUs": (
        nodes(1, gpus=4) + projects(a=2, b=2),
        [Step(jobs("a", 1, 1, 1, 1), allocated={"a": 4, "b": 0}),
         Step(jobs("b", 1, 1, 1), preempted={"a/a-2", "a/a-3"}, allocated={"a": 2, "b": 2},
              reasons={"b/b-2": "no node with 1 free GPU in pool default; "
                                "project b is at its fair share (2/2 GPUs)"}),
         Step(started=set(), preempted=set(), allocated={"a": 2, "b": 2})],
    ),
    # Kueue: two ClusterQueues of one cohort, nominal quota 9 each, borrowingLimit 6 for a
    # (mlfabric: limit = quota + borrowing limit); b reclaims within the cohort.
    "kueue borrowing within a cohort, up to the borrowing limit": (
        [*nodes(2, gpus=9), MakeProject("a").quota(9).limit(15).add(),
         MakeProject("b").quota(9).add()],
        [Step(jobs("a", *[1] * 18), allocated={"a": 15, "b": 0},
              reasons={"a/a-15": "project a would exceed its limit of 15 GPUs "
                                 "(15 allocated, the job needs 1)"}),
         Step(jobs("b", *[1] * 5), preempted={"a/a-13", "a/a-14"},
              allocated={"a": 13, "b": 5}),
         Step(started=set(), preempted=set(), allocated={"a": 13, "b": 5})],
    ),
    # Reasons name what stops the job. team-a borrowed 11 GPUs (quota 4, fair share 8):
    # its next job waits on its fair share, while team-b's 2x8 gang (fair share 8) waits
    # for two free nodes: even a larger share would find only 12 GPUs it could reclaim.
    "reasons: over its fair share, and a gang that needs whole nodes": (
        [*nodes(2), *projects(team_a=4, team_b=4),
         MakeProject("team-c").quota(0).weight(0).add()],
        [Step(jobs("team-a", *[1] * 11) + jobs("team-c", *[1] * 5),
              allocated={"team-a": 11, "team-c": 5}),
         Step([*jobs("team-a", 1, start=11), MakeJob("gang", "team-b").gpus(8).processes(2)],
              started=set(), preempted=set(),
              allocated={"team-a": 11, "team-b": 0, "team-c": 5},
              reasons={
                  "team-a/team-a-11": "project team-a is over its fair share (11/8 GPUs); "
                                      "waiting for free GPUs in pool default",
                  "team-b/gang": "no room for all 2 processes x 8 GPUs in pool default: "
                                 "each process needs 8 free GPUs on one node and there is "
                                 "room for 0 (a gang starts whole or not at all)"})],
    ),
}


@pytest.mark.parametrize("setup, steps", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_scenario(setup: list[Event], steps: list[Step]) -> None:
    run(setup, steps)


def test_preempted_job_keeps_its_submit_time_and_queue_place() -> None:
    sched = run(*SCENARIOS["quotas 3:1 when b floods after a borrowed everything"])
    job = sched.job("a", "a-3")
    assert job.status == "pending"
    assert job.job.submit_time < sched.job("a", "a-4").job.submit_time
    queue = [j.job.name for j in sched.jobs("a") if j.status == "pending"]
    assert queue[0] == "a-3"
