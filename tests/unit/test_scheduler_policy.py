"""Scheduler rules one at a time: input checks, placement, victim choice, node changes."""

from __future__ import annotations

import pytest

from mlfabric.errors import AlreadyExists, Busy, InvalidInput, NotFound
from mlfabric.scheduler import (
    AddNode,
    AddProject,
    Delete,
    Event,
    Finish,
    Instruction,
    Job,
    Node,
    Placement,
    Preempt,
    Project,
    RemoveNode,
    RemoveProject,
    Resume,
    Scheduler,
    Start,
    Stop,
    Submit,
    Tick,
    UpdateNode,
    UpdateProject,
)
from mlfabric.scheduler.builders import MakeJob, MakeNode, MakeProject
from mlfabric.units import parse_size

GiB = parse_size("1Gi")


def cluster(*events: Event) -> Scheduler:
    sched = Scheduler(validate=True)
    sched.handle(*events)
    return sched


def starts(out: list[Instruction]) -> dict[str, tuple[Placement, ...]]:
    return {i.job: i.placements for i in out if isinstance(i, Start)}


def preempted(out: list[Instruction]) -> list[str]:
    return [f"{i.project}/{i.job}" for i in out if isinstance(i, Preempt)]


# -- bad input ---------------------------------------------------------------------------

BASE = [MakeNode("n1").add(), MakeProject("a").quota(4).add()]

BAD_INPUT = {
    "unknown project": (Submit(Job("x", "nope")), NotFound, "project 'nope' not found"),
    "zero GPUs": (Submit(Job("x", "a", gpus=0)), InvalidInput, "gpus must be a positive"),
    "negative GPUs": (Submit(Job("x", "a", gpus=-2)), InvalidInput, "gpus must be a positive"),
    "fraction above 1 that is not whole": (
        Submit(Job("x", "a", gpus=1.5)), InvalidInput,
        "gpus 1.5 is neither a whole number nor a fraction below 1"),
    "memory with several processes": (
        Submit(Job("x", "a", gpu_memory=GiB, processes=2)), InvalidInput, "cannot have 2"),
    "gpus and memory at once": (
        Submit(Job("x", "a", gpus=1, gpu_memory=GiB)), InvalidInput, "not both"),
    "no processes": (Submit(Job("x", "a", processes=0)), InvalidInput, "processes must"),
    "bad job name": (Submit(Job("Bad_Name", "a")), InvalidInput, "invalid job name"),
    "duplicate job name in a project": (
        Submit(Job("dup", "a")), AlreadyExists, "job 'a/dup' already exists"),
    "deleting a job that does not exist": (
        Delete("a", "ghost"), NotFound, "job 'a/ghost' not found"),
    "deleting in an unknown project": (Delete("zz", "x"), NotFound, "project 'zz' not found"),
    "finishing a pending job": (Finish("a", "huge"), InvalidInput, "is not running"),
    "duplicate node": (AddNode(Node("n1", 8)), AlreadyExists, "node 'n1' already exists"),
    "node without GPUs": (AddNode(Node("n2", 0)), InvalidInput, "gpus must be a whole"),
    "removing an unknown node": (RemoveNode("n9"), NotFound, "node 'n9' not found"),
    "duplicate project": (AddProject(Project("a")), AlreadyExists, "already exists"),
    "negative quota": (AddProject(Project("b", quota=-1)), InvalidInput, "quota must"),
    # past these the cycle's milli-GPU sums overflow (float infinity), every cycle after
    "quota past any cluster": (
        AddProject(Project("b", quota=1e300)), InvalidInput, "quota must be at most 1,000,000"),
    "weight past any cluster": (
        AddProject(Project("b", quota=1, weight=2e6)), InvalidInput, "weight must be at most"),
    "node with more GPUs than a machine": (
        AddNode(Node("n2", 2**70)), InvalidInput, "at least 1 and at most 1024, got 1180"),
    "node memory past a 64-bit size": (
        AddNode(Node("n2", 8, gpu_memory=2**63)), InvalidInput, "gpu_memory must be bytes"),
    "limit below quota": (
        AddProject(Project("b", quota=4, limit=2)), InvalidInput, "limit 2 is below its quota 4"),
    "updating an unknown project": (UpdateProject(Project("zz")), NotFound, "not found"),
    "removing a project with jobs": (RemoveProject("a"), Busy, "has 2 job(s)"),
    "clock going backwards": (Tick(5), InvalidInput, "before the previous tick"),
}


@pytest.mark.parametrize("event, error, message", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_refused_with_a_clear_message(event: Event, error: type,
                                                    message: str) -> None:
    sched = cluster(*BASE, Submit(Job("dup", "a")), Submit(Job("huge", "a", gpus=16)), Tick(10))
    before = [(j.job.key, j.status) for j in sched.jobs()]
    with pytest.raises(error) as exc:
        sched.handle(event)
    assert message in str(exc.value)
    assert [(j.job.key, j.status) for j in sched.jobs()] == before


def test_more_gpus_than_any_node_is_not_an_error_but_waits_with_a_reason() -> None:
    sched = cluster(*BASE, MakeJob("big", "a").gpus(16).submit(),
                    MakeJob("mem", "a").memory("100Gi").submit())
    assert sched.handle(Tick(1)) == []
    assert sched.why_pending("a", "big") == ("no node in pool default has 16 GPUs "
                                             "(the largest has 8)")
    assert "no GPU in pool default has 100.0 GiB of memory" in sched.why_pending("a", "mem")
    assert sched.project("a").fair_share == 0  # unrunnable jobs claim no share


def test_new_job_waits_for_the_next_cycle() -> None:
    sched = cluster(*BASE, MakeJob("j", "a").submit())
    assert sched.why_pending("a", "j") == "waiting for the next scheduling cycle"
    assert sched.job("a", "j").reason.code == "new"


# -- placement ---------------------------------------------------------------------------

def test_whole_gpus_go_to_the_fullest_node_that_fits() -> None:
    sched = cluster(MakeNode("n1").gpus(4).add(), MakeNode("n2").gpus(4).add(),
                    MakeProject("a").quota(8).add(), MakeJob("one", "a").gpus(1).submit())
    assert starts(sched.handle(Tick(1)))["one"][0].node == "n1"
    sched.handle(MakeJob("two", "a").gpus(2).at(1).submit(),
                 MakeJob("four", "a").gpus(4).at(2).submit())
    placed = starts(sched.handle(Tick(2)))
    assert placed["two"][0] == Placement("n1", (1, 2))
    assert placed["four"][0] == Placement("n2", (0, 1, 2, 3))


def test_fractions_go_to_the_fullest_shared_gpu_that_fits() -> None:
    sched = cluster(MakeNode("n1").gpus(4).add(), MakeProject("a").quota(4).add(),
                    MakeJob("half", "a").gpus(0.5).submit(),
                    MakeJob("third", "a").gpus(0.3).at(1).submit(),
                    MakeJob("big", "a").gpus(0.6).at(2).submit())
    placed = starts(sched.handle(Tick(1)))
    assert placed["half"][0].gpus == placed["third"][0].gpus  # 0.8 on one GPU
    assert placed["big"][0].gpus != placed["half"][0].gpus
    sched.handle(MakeJob("small", "a").gpus(0.2).at(3).submit())
    placed2 = starts(sched.handle(Tick(2)))
    # 0.2 fits both shared GPUs (0.8 and 0.6 used): it goes to the fuller one.
    assert placed2["small"][0].gpus == placed["half"][0].gpus
    assert placed2["small"][0].fraction == 0.2
    assert sched.nodes()[0].used.count(1.0) == 1


def test_a_gang_of_fractions_starts_whole_on_shared_gpus_or_waits() -> None:
    # A Dask cluster of a scheduler and two workers at half a GPU each: 1.5 GPUs, the
    # shares packed as single fractions are (fullest shared GPU first).
    sched = cluster(MakeNode("n1").gpus(2).add(), MakeProject("a").quota(2).add(),
                    MakeJob("dask", "a").gpus(0.5).processes(3).submit())
    placed = starts(sched.handle(Tick(1)))["dask"]
    assert [(p.gpus, p.fraction) for p in placed] == [((0,), 0.5), ((0,), 0.5), ((1,), 0.5)]
    assert sched.job("a", "dask").allocated == 1.5
    sched.handle(MakeJob("more", "a").gpus(0.5).processes(2).at(1).submit())
    assert starts(sched.handle(Tick(2))) == {}  # room for one share: none starts
    assert sched.why_pending("a", "more") == (
        "no room for all 2 processes x 0.5 of a GPU in pool default (a gang starts whole "
        "or not at all)")
    sched.handle(MakeJob("huge", "a").gpus(0.5).processes(5).at(2).submit())
    sched.handle(Tick(3))
    assert sched.why_pending("a", "huge") == (
        "pool default cannot hold 5 processes x 0.5 of a GPU even when empty")
    placed = starts(sched.handle(Delete("a", "dask"), Tick(4)))
    assert sorted(p.gpus for p in placed["more"]) == [(0,), (0,)]


def test_memory_request_maps_to_the_nodes_gpu_memory() -> None:
    sched = cluster(MakeNode("big").gpus(1).memory("80Gi").add(),
                    MakeNode("small").gpus(1).memory("40Gi").add(),
                    MakeProject("a").quota(2).add(),
                    MakeJob("m1", "a").memory("20Gi").submit(),
                    MakeJob("m2", "a").memory("20Gi").at(1).submit(),
                    MakeJob("m3", "a").memory("30Gi").at(2).submit())
    placed = starts(sched.handle(Tick(1)))
    fractions = sorted((p[0].node, p[0].fraction) for p in placed.values())
    assert fractions == [("big", 0.25), ("big", 0.25), ("big", 0.375)]
    sched.handle(MakeJob("m4", "a").memory("40Gi").at(3).submit())
    placed = starts(sched.handle(Tick(2)))
    assert placed["m4"][0] == Placement("small", (0,), 1.0)


def test_gang_within_fair_share_waits_whole_with_a_reason() -> None:
    sched = cluster(*[MakeNode(f"n{i}").add() for i in (1, 2, 3)],
                    MakeProject("g").quota(16).add(), MakeProject("i").quota(8).add(),
                    MakeJob("nb1", "i").interactive().submit(),
                    MakeJob("nb2", "i").interactive().submit(),
                    Resume("i", "nb1", (Placement("n1", (3,)),), 0),
                    Resume("i", "nb2", (Placement("n2", (5,)),), 0),
                    MakeJob("gang", "g").gpus(8).processes(2).submit())
    assert sched.handle(Tick(1)) == []  # one free node, and interactive jobs are no victims
    assert sched.project("g").fair_share == 16
    assert sched.why_pending("g", "gang") == (
        "no room for all 2 processes x 8 GPUs in pool default: each process needs 8 free "
        "GPUs on one node and there is room for 1 (a gang starts whole or not at all)")
    placed = starts(sched.handle(Delete("i", "nb2"), Tick(2)))
    assert sorted(p.node for p in placed["gang"]) == ["n2", "n3"]


# -- victim choice -----------------------------------------------------------------------

def _full_node_with(*jobs: tuple[str, str, float, float]) -> Scheduler:
    """One 8-GPU node held by borrowed training jobs ``(name, project, gpus, submit)``."""
    sched = cluster(MakeNode("n1").add(), MakeProject("x").quota(0).add(),
                    MakeProject("y").quota(0).add(), MakeProject("r").quota(8).add(),
                    MakeProject("q1").quota(1).add(), MakeProject("q2").quota(1).add())
    sched.handle(*[MakeJob(n, p).gpus(g).at(t).submit() for n, p, g, t in jobs])
    sched.handle(Tick(1))
    assert sum(n.free_gpus for n in sched.nodes()) == 0
    return sched


VICTIMS = {
    "fewest GPUs": ([("two", "x", 2, 1), ("one", "x", 1, 0), ("five", "x", 5, 0)], 1,
                    ["x/one"]),
    "fewest jobs for the same GPUs": (
        [("pair", "x", 2, 0), ("s1", "x", 1, 1), ("s2", "x", 1, 2), ("four", "x", 4, 0)], 2,
        ["x/pair"]),
    "newest job among equals": (
        [("old", "x", 1, 0), ("new", "y", 1, 5), ("mid", "x", 1, 3), ("x-big", "x", 2, 0),
         ("y-big", "y", 3, 0)], 1, ["y/new"]),
}


@pytest.mark.parametrize("jobs, need, expected", VICTIMS.values(), ids=VICTIMS.keys())
def test_victims_are_the_fewest_gpus_then_jobs_then_newest(
        jobs: list[tuple[str, str, float, float]], need: int, expected: list[str]) -> None:
    sched = _full_node_with(*jobs)
    sched.handle(MakeJob("claim", "r").gpus(need).at(10).submit())
    out = sched.handle(Tick(2))
    assert preempted(out) == expected
    assert "claim" in starts(out)
    assert all(i.by_project == "r" and i.by_job == "claim" for i in out
               if isinstance(i, Preempt))


def test_victim_project_is_not_pushed_below_quota_when_another_set_works() -> None:
    # q1 (quota 1) holds 2 GPUs, q2 (quota 1) holds 6: taking q1's newer job would push q1
    # below its quota, so q2's older job goes instead.
    sched = _full_node_with(("q1-old", "q1", 1, 0), ("q1-new", "q1", 1, 9),
                            ("q2-a", "q2", 1, 1), ("q2-b", "q2", 5, 0))
    sched.handle(MakeJob("claim", "r").gpus(1).at(10).submit())
    assert preempted(sched.handle(Tick(2))) == ["q2/q2-a"]


def test_victim_choice_is_deterministic() -> None:
    def once() -> list[Instruction]:
        sched = _full_node_with(("a1", "x", 1, 0), ("a2", "y", 1, 0), ("a3", "x", 1, 0),
                                ("a4", "y", 1, 0), ("b", "x", 4, 0))
        sched.handle(MakeJob("claim", "r").gpus(2).at(10).submit())
        return sched.handle(Tick(2))

    first = once()
    assert len(preempted(first)) == 2
    assert all(once() == first for _ in range(3))


def test_jobs_within_quota_and_non_preemptible_jobs_are_never_victims() -> None:
    sched = cluster(MakeNode("n1").gpus(4).add(), MakeProject("a").quota(2).add(),
                    MakeProject("b").quota(2).add(),
                    MakeJob("nb", "a").interactive().preemptible(False).gpus(1).submit(),
                    MakeJob("t1", "a").at(1).submit(), MakeJob("t2", "a").at(2).submit(),
                    MakeJob("t3", "a").at(3).submit())
    sched.handle(Tick(1))
    assert sched.allocated("a") == 4
    sched.handle(MakeJob("b1", "b").gpus(2).at(4).submit())
    out = sched.handle(Tick(2))
    assert sorted(preempted(out)) == ["a/t2", "a/t3"]  # the newest training jobs
    sched.handle(MakeJob("b2", "b").at(5).submit())
    out = sched.handle(Tick(3))
    assert preempted(out) == []  # a is at its quota now
    assert "at its fair share (2/2 GPUs)" in sched.why_pending("b", "b2")


def test_over_fair_share_job_borrows_idle_gpus_but_never_preempts() -> None:
    sched = cluster(MakeNode("n1").gpus(4).add(), MakeProject("a").quota(1).add(),
                    MakeProject("b").quota(3).add(),
                    MakeJob("b1", "b").gpus(2).submit(), *[
                        MakeJob(f"a{i}", "a").at(i).submit() for i in range(4)])
    out = sched.handle(Tick(1))
    assert sched.allocated("a") == 2 and preempted(out) == []
    assert "project a is at its fair share (2/2 GPUs)" in sched.why_pending("a", "a2")


def test_free_gpus_scattered_over_nodes_are_the_reason_not_fair_share() -> None:
    # 4 GPUs are free, 2 on each node: a (at its fair share) could borrow them, were
    # they on one node.
    sched = cluster(MakeNode("n1").gpus(4).add(), MakeNode("n2").gpus(4).add(),
                    MakeProject("a").quota(2).add(), MakeProject("b").quota(6).add(),
                    MakeJob("x", "a").gpus(2).submit(), MakeJob("y", "b").gpus(2).submit(),
                    Resume("a", "x", (Placement("n1", (0, 1)),), 0),
                    Resume("b", "y", (Placement("n2", (0, 1)),), 0),
                    MakeJob("big", "a").gpus(4).at(1).submit(),
                    MakeJob("big", "b").gpus(4).at(2).submit())
    assert sched.handle(Tick(1)) == []
    assert sched.why_pending("a", "big") == ("no node with 4 free GPUs in pool default; "
                                             "project a is at its fair share (2/2 GPUs)")
    assert sched.why_pending("b", "big") == "no node with 4 free GPUs in pool default"


def test_limit_caps_a_project_even_on_an_idle_cluster() -> None:
    sched = cluster(MakeNode("n1").add(), MakeProject("a").quota(1).limit(2).add(),
                    *[MakeJob(f"j{i}", "a").at(i).submit() for i in range(3)])
    sched.handle(Tick(1))
    assert sched.allocated("a") == 2
    assert sched.why_pending("a", "j2") == ("project a would exceed its limit of 2 GPUs "
                                            "(2 allocated, the job needs 1)")


# -- node pools and node changes ---------------------------------------------------------

def test_projects_use_only_their_pool() -> None:
    sched = cluster(MakeNode("cpu-ish").gpus(2).add(), MakeNode("a100").pool("big").add(),
                    MakeProject("a").quota(8).pool("big").add(),
                    MakeProject("b").quota(1).pool("empty").add(),
                    MakeJob("j", "a").gpus(4).submit(), MakeJob("k", "b").submit())
    placed = starts(sched.handle(Tick(1)))
    assert placed["j"][0].node == "a100"
    assert sched.why_pending("b", "k") == "node pool empty has no nodes"


def test_removing_a_node_preempts_its_jobs_which_run_again_elsewhere() -> None:
    sched = cluster(MakeNode("n1").gpus(2).add(), MakeProject("a").quota(4).add(),
                    MakeJob("j", "a").gpus(2).submit())
    sched.handle(Tick(1))
    out = sched.handle(AddNode(Node("n2", 2)), RemoveNode("n1"))
    assert out == [Preempt("a", "j", "node n1 removed")]
    assert "node n1 removed" in sched.why_pending("a", "j")
    assert starts(sched.handle(Tick(2)))["j"][0].node == "n2"


def test_shrinking_a_node_preempts_only_jobs_on_lost_gpus() -> None:
    sched = cluster(MakeNode("n1").gpus(4).add(), MakeProject("a").quota(4).add(),
                    MakeJob("low", "a").gpus(2).submit(),
                    MakeJob("high", "a").gpus(2).at(1).submit())
    sched.handle(Tick(1))
    out = sched.handle(UpdateNode(MakeNode("n1").gpus(3).obj()))
    assert preempted(out) == ["a/high"]
    assert sched.job("a", "low").status == "running"
    out = sched.handle(UpdateNode(Node("n1", 2, pool="other")))
    assert preempted(out) == ["a/low"]
    sched.handle(Tick(2))
    assert sched.why_pending("a", "low") == "node pool default has no nodes"


def test_moving_a_project_to_another_pool_preempts_its_running_jobs() -> None:
    sched = cluster(MakeNode("n1").add(), MakeNode("n2").pool("p2").add(),
                    MakeProject("a").quota(1).add(), MakeJob("j", "a").submit())
    sched.handle(Tick(1))
    out = sched.handle(UpdateProject(Project("a", quota=1, pool="p2")))
    assert preempted(out) == ["a/j"]
    assert starts(sched.handle(Tick(2)))["j"][0].node == "n2"


# -- job lifecycle -----------------------------------------------------------------------

def test_delete_stops_a_running_job_and_finish_frees_its_gpus() -> None:
    sched = cluster(*BASE, MakeJob("run", "a").gpus(2).submit(),
                    MakeJob("done", "a").gpus(2).at(1).submit(),
                    MakeJob("wait", "a").gpus(8).at(2).submit())
    sched.handle(Tick(1))
    assert sched.handle(Delete("a", "run")) == [Stop("a", "run", "deleted")]
    assert sched.handle(Finish("a", "done"), Delete("a", "wait")) == []
    assert sched.jobs() == [] and sched.allocated("a") == 0
    assert sched.nodes()[0].free_gpus == 8
    sched.handle(RemoveProject("a"))
    assert sched.projects() == []


def test_resume_restores_running_jobs_from_saved_placements() -> None:
    first = cluster(MakeNode("n1").gpus(2).add(), MakeNode("n2").gpus(2).add(),
                    MakeProject("a").quota(4).add(),
                    MakeJob("gang", "a").gpus(1).processes(2).submit(),
                    MakeJob("frac", "a").gpus(0.5).at(1).submit())
    first.handle(Tick(7))
    saved = [j for j in first.jobs() if j.status == "running"]
    assert len(saved) == 2

    again = cluster(MakeNode("n1").gpus(2).add(), MakeNode("n2").gpus(2).add(),
                    MakeProject("a").quota(4).add(), *[Submit(j.job) for j in saved])
    again.handle(*[Resume("a", j.job.name, j.placements, j.started_at or 0) for j in saved])
    assert [(j.job.name, j.placements, j.started_at) for j in again.jobs()] == \
        [(j.job.name, j.placements, j.started_at) for j in saved]
    assert again.nodes() == first.nodes()
    assert again.handle(Tick(8)) == []


def test_resume_refuses_a_taken_gpu() -> None:
    sched = cluster(MakeNode("n1").gpus(1).add(), MakeProject("a").quota(1).add(),
                    MakeJob("x", "a").submit(), MakeJob("y", "a").at(1).submit())
    sched.handle(Resume("a", "x", (Placement("n1", (0,)),), 0))
    with pytest.raises(InvalidInput, match="GPU 0 of node 'n1' is taken"):
        sched.handle(Resume("a", "y", (Placement("n1", (0,)),), 0))
    with pytest.raises(InvalidInput, match="is already running"):
        sched.handle(Resume("a", "x", (Placement("n1", (0,)),), 0))


def test_queries_report_shares_and_states() -> None:
    sched = cluster(*BASE, MakeProject("b").quota(4).add(),
                    MakeJob("j", "a").gpus(2).submit(), MakeJob("k", "b").gpus(8).submit())
    sched.handle(Tick(1))
    a, b = sched.projects()
    assert (a.allocated, a.fair_share, a.running, a.pending) == (2, 2, 1, 0)
    assert (b.allocated, b.fair_share, b.running, b.pending) == (0, 6, 0, 1)
    state = sched.job("a", "j")
    assert (state.status, state.allocated, state.started_at) == ("running", 2, 1)
    assert sched.why_pending("a", "j") is None
    # a's 2 GPUs are within its quota: no share of b's could reclaim them.
    assert sched.job("b", "k").reason.code == "no-room"


def test_shared_gpus_are_cheaper_victims_than_a_whole_gpu_job() -> None:
    # Node a has two GPUs, each shared by one 0.25-GPU training job; node b has a free
    # GPU and a whole-GPU training job. Freeing two GPUs costs 0.5 GPU on a, 1 GPU on b.
    sched = cluster(MakeNode("a").gpus(2).add(), MakeNode("b").gpus(2).add(),
                    MakeProject("x").quota(0).add(), MakeProject("r").quota(2).add(),
                    MakeProject("z").quota(2).add(),
                    MakeJob("q1", "x").gpus(0.25).submit(),
                    MakeJob("q2", "x").gpus(0.25).submit(),
                    MakeJob("w", "x").gpus(1).submit(),
                    Resume("x", "q1", (Placement("a", (0,), 0.25),), 0),
                    Resume("x", "q2", (Placement("a", (1,), 0.25),), 0),
                    Resume("x", "w", (Placement("b", (0,)),), 0),
                    MakeJob("need2", "r").gpus(2).at(1).submit(),
                    MakeJob("later", "z").gpus(2).at(2).submit())
    out = sched.handle(Tick(1))
    by_r = sorted(i.job for i in out if isinstance(i, Preempt) and i.by_job == "need2")
    assert by_r == ["q1", "q2"]
    assert starts(out)["need2"][0].node == "a"
