"""The scheduler issue's rule scenarios through the CLI on the ``sim`` runtime (the same
scenarios are table-tested against the pure core in tests/unit/test_scheduler_*)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.test_scheduler_cli import allocated, ok, submit


def job(home: Path, project: str, name: str) -> dict:
    return ok(home, "job", "get", name, "-p", project, "--json").json()


def flood(home: Path, project: str, prefix: str, n: int) -> None:
    for i in range(n):
        submit(home, project, f"{prefix}{i}", "1")


def test_quotas_3_and_1_split_a_flooded_cluster_3_to_1(home: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "4")
    ok(home, "project", "create", "a", "--quota", "3")
    ok(home, "project", "create", "b", "--quota", "1")
    flood(home, "a", "a", 5)
    assert allocated(home) == {"a": 4, "b": 0}  # idle GPUs are lent beyond quota
    flood(home, "b", "b", 5)
    assert allocated(home) == {"a": 3, "b": 1}


def test_interactive_beyond_quota_waits_unless_preemptible(home: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "4")
    ok(home, "project", "create", "a", "--quota", "1")
    j = submit(home, "a", "nb", "2", "--interactive")
    assert j["state"] == "Pending" and "quota" in j["reason"]  # on an idle cluster
    assert submit(home, "a", "pre", "2", "--interactive", "--preemptible")["state"] == "Running"


def test_in_quota_interactive_preempts_its_own_training(home: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "2")
    ok(home, "project", "create", "a", "--quota", "2")
    assert submit(home, "a", "train", "2")["state"] == "Running"
    assert submit(home, "a", "notebook", "1", "--interactive")["state"] == "Running"
    assert job(home, "a", "train")["state"] == "Pending"


def test_fractions_0_6_and_0_5_do_not_share_a_gpu(home: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "1")
    ok(home, "project", "create", "a", "--quota", "1")
    assert submit(home, "a", "x", "0.6")["state"] == "Running"
    y = submit(home, "a", "y", "0.5")
    assert y["state"] == "Pending" and y["reason"]
    z = submit(home, "a", "z", "0.4")  # 0.6 + 0.4 fits, and packs onto the same GPU
    assert [(p["node"], p["gpus"]) for p in z["placements"]] == [("n1", [0])]


def test_gang_job_starts_whole_or_not_at_all_and_is_preempted_whole(home: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "8")
    ok(home, "node", "add", "n2", "--gpus", "8")
    ok(home, "project", "create", "a", "--quota", "8")
    ok(home, "project", "create", "b", "--quota", "8")
    small = submit(home, "b", "small", "1")
    gang = submit(home, "a", "gang", "8", "--processes", "2")
    assert gang["state"] == "Pending" and gang["placements"] == []  # only one node is free
    ok(home, "job", "delete", "small", "-p", "b")
    gang = job(home, "a", "gang")
    assert gang["state"] == "Running"
    assert sorted(p["node"] for p in gang["placements"]) == ["n1", "n2"]
    assert small["state"] == "Running"
    # b reclaims its quota: the borrowing gang job goes whole, not one process.
    assert submit(home, "b", "reclaim", "1")["state"] == "Running"
    gang = job(home, "a", "gang")
    assert gang["state"] == "Pending" and gang["placements"] == []
    assert allocated(home) == {"a": 0, "b": 1}


def test_interactive_job_past_its_time_limit_is_stopped(home: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "1")
    ok(home, "project", "create", "a", "--quota", "1", "--interactive-time-limit", "2s")
    assert submit(home, "a", "nb", "1", "--interactive")["state"] == "Running"
    time.sleep(2.5)
    ok(home, "scheduler", "step")
    j = job(home, "a", "nb")
    assert j["state"] == "Stopped" and "time limit" in (j["message"] or "").lower(), j
    assert allocated(home) == {"a": 0}


def test_kueue_fair_sharing_with_weights_equal_to_quotas(home: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "9")
    for p in ("a", "b", "c"):
        ok(home, "project", "create", p, "--quota", "3")
    flood(home, "a", "a", 10)
    assert allocated(home) == {"a": 9, "b": 0, "c": 0}
    flood(home, "b", "b", 5)
    assert allocated(home) == {"a": 5, "b": 4, "c": 0}
    flood(home, "c", "c", 1)
    assert allocated(home) == {"a": 4, "b": 4, "c": 1}
