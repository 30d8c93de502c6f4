"""The scheduler through the CLI on the ``sim`` runtime: the issue's reference scenario,
fractional sharing, quota reasons and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Result, run_cli

SIM = {"MLFABRIC_RUNTIME": "sim"}
SERVER_ENV = SIM  # client mode: the server runs the sim runtime


def cli(home: Path, *args: str) -> Result:
    return run_cli(home, *args, env=SIM)


def ok(home: Path, *args: str) -> Result:
    r = cli(home, *args)
    assert r.code == 0, f"{args}: {r.err}"
    return r


def allocated(home: Path) -> dict[str, float]:
    return {p["name"]: p["allocated"] for p in ok(home, "project", "list", "--json").json()}


def pending(home: Path) -> list[dict]:
    return [j for j in ok(home, "job", "list", "-A", "--json").json() if j["state"] == "Pending"]


def submit(home: Path, project: str, name: str, gpus: str, *flags: str) -> dict:
    """A job on the sim runtime: its command is never run."""
    return ok(home, "job", "submit", name, "-p", project, "-g", gpus, *flags, "--json",
              "--", "true").json()


def test_reference_scenario(home: Path, cli_mode: str) -> None:
    ok(home, "node", "add", "node-1", "--gpus", "8")
    ok(home, "node", "add", "node-2", "--gpus", "8")
    for name, quota in (("team-a", 4), ("team-b", 2), ("team-c", 2), ("team-d", 8)):
        ok(home, "project", "create", name, "--quota", str(quota))
    phase1 = [("team-a", ["1i", "1", "2"]), ("team-b", ["0.6i", "0.4i", "1", "2"]),
              ("team-c", ["0.5i", "0.3i", "0.2i", "2", "1"]), ("team-d", ["4"])]
    for project, sizes in phase1:
        for n, size in enumerate(sizes):
            flags = ["--interactive"] if size.endswith("i") else []
            submit(home, project, f"{project[-1]}{n}", size.rstrip("i"), *flags)
    assert allocated(home) == {"team-a": 4, "team-b": 4, "team-c": 4, "team-d": 4}
    assert pending(home) == []

    submit(home, "team-d", "d1", "2")
    submit(home, "team-d", "d2", "2")
    assert allocated(home) == {"team-a": 4, "team-b": 2, "team-c": 2, "team-d": 8}
    waiting = {j["ref"] for j in pending(home)}
    assert waiting == {"team-b/b3", "team-c/c3"}  # each one 2-GPU training job
    for ref in waiting:
        project, name = ref.split("/")
        job = ok(home, "job", "get", name, "-p", project, "--json").json()
        assert job["reason"] and job["runs"] == 1  # it ran, was preempted and waits again

    for project, name in (("team-a", "a-late-1"), ("team-a", "a-late-2"),
                          ("team-b", "b-late"), ("team-c", "c-late")):
        job = submit(home, project, name, "2")
        assert job["state"] == "Pending" and job["reason"], job
    assert allocated(home) == {"team-a": 4, "team-b": 2, "team-c": 2, "team-d": 8}
    ok(home, "job", "delete", "d0", "d1", "d2", "-p", "team-d")
    assert allocated(home) == {"team-a": 8, "team-b": 4, "team-c": 4, "team-d": 0}
    assert ok(home, "node", "list", "--json").json()[0]["allocated"] == 8


def test_fractions_share_a_gpu_and_interactive_over_quota_waits(home: Path,
                                                               cli_mode: str) -> None:
    ok(home, "node", "add", "n1", "--gpus", "2", "--gpu-memory", "32Gi")
    ok(home, "project", "create", "a", "--quota", "1")
    x = submit(home, "a", "x", "0.5")
    y = submit(home, "a", "y", "0.5")
    assert x["placements"] == y["placements"] == [{"node": "n1", "gpus": [0], "fraction": 0.5}]
    i = submit(home, "a", "big", "2", "--interactive")
    assert i["state"] == "Pending"
    assert "within its project's quota" in i["reason"]
    shown = ok(home, "job", "get", "big", "-p", "a").out
    assert "quota" in shown
    ok(home, "job", "delete", "x", "y", "-p", "a")
    assert pending(home)[0]["name"] == "big"  # still beyond quota 1, even with GPUs free


def test_sim_duration_finishes_jobs(home: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "1")
    ok(home, "project", "create", "a", "--quota", "1")
    assert submit(home, "a", "short", "1", "--sim-duration", "3")["state"] == "Running"
    assert submit(home, "a", "next", "1")["state"] == "Pending"
    import time

    deadline = time.monotonic() + 30
    while ok(home, "job", "get", "next", "-p", "a", "--json").json()["state"] != "Running":
        assert time.monotonic() < deadline
        ok(home, "scheduler", "step")
    assert ok(home, "job", "get", "short", "-p", "a", "--json").json()["state"] == "Succeeded"


def test_reading_commands_finish_sim_jobs_without_a_cycle(home: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "1")
    ok(home, "project", "create", "a", "--quota", "1")
    assert submit(home, "a", "short", "1", "--sim-duration", "1")["state"] == "Running"
    assert submit(home, "a", "next", "1")["state"] == "Pending"
    import time

    time.sleep(1.2)
    [a] = ok(home, "project", "list", "--json").json()
    assert (a["allocated"], a["running"], a["pending"]) == (1, 1, 0)
    listed = {j["name"]: j["state"] for j in ok(home, "job", "list", "--json").json()}
    assert listed == {"short": "Succeeded", "next": "Running"}


def test_logs_of_a_sim_job_say_it_runs_no_process(home: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "1")
    ok(home, "project", "create", "a", "--quota", "1")
    submit(home, "a", "ghost", "1")
    for follow in ([], ["--follow"]):
        r = cli(home, "job", "logs", "ghost", "-p", "a", *follow)
        assert r.code == 1 and r.out == "", r
        assert r.err == ("error: job 'a/ghost' runs on the sim runtime, which starts no "
                         "processes: it has no logs\n")


@pytest.fixture(scope="module")
def bad_input_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One home for every bad-input case (none of them changes it)."""
    home = tmp_path_factory.mktemp("bad-input")
    ok(home, "node", "add", "n1", "--gpus", "8")
    ok(home, "project", "create", "a", "--quota", "1")
    submit(home, "a", "dup", "1")
    return home


@pytest.mark.parametrize(("args", "message"), [
    (["job", "submit", "j", "-p", "nope", "-g", "1", "--", "true"],
     "project 'nope' not found"),
    (["job", "submit", "j", "-p", "a", "-g", "-1", "--", "true"], "gpus must be a positive number"),
    (["job", "submit", "j", "-p", "a", "-g", "0", "--", "true"], "gpus must be a positive number"),
    (["job", "submit", "j", "-p", "a", "-g", "1.5", "--", "true"], "neither a whole number"),
    (["job", "submit", "j", "-p", "a", "--gpu-memory", "8Gi", "--processes", "2", "--",
      "true"], "cannot have 2 processes"),
    (["job", "submit", "dup", "-p", "a", "-g", "1", "--", "true"],
     "job 'a/dup' already exists"),
    (["job", "delete", "ghost", "-p", "a"], "job 'a/ghost' not found"),
    (["job", "submit", "j", "-p", "a", "-e", "NOEQUALS", "--", "true"],
     "invalid environment variable"),
    (["project", "create", "b", "--quota", "-1"], "quota must be a number of at least 0"),
    (["node", "add", "n2", "--gpus", "0"], "gpus must be a whole number of at least 1"),
])
def test_bad_input_is_one_clear_line(bad_input_home: Path, args: list[str],
                                     message: str) -> None:
    r = cli(bad_input_home, *args)
    assert r.code == 1, r
    assert r.err.startswith("error: ") and len(r.err.strip().splitlines()) == 1, r.err
    assert message in r.err


def test_submit_without_a_command_is_a_usage_error(bad_input_home: Path) -> None:
    r = cli(bad_input_home, "job", "submit", "j", "-p", "a", "-g", "1")
    assert r.code == 2, r
    assert "put the command after --" in r.err and "Traceback" not in r.err
    assert [j["name"] for j in ok(bad_input_home, "job", "list", "--json").json()] == ["dup"]


def test_delete_deletes_what_exists_and_names_what_does_not(home: Path,
                                                            cli_mode: str) -> None:
    ok(home, "node", "add", "n1", "--gpus", "8")
    ok(home, "project", "create", "a", "--quota", "8")
    for name in ("j1", "j2", "keep"):
        submit(home, "a", name, "1")
    r = cli(home, "job", "delete", "j1", "ghost", "j2", "-p", "a")
    assert r.code == 1, r
    assert r.out.splitlines() == ["deleted job a/j1", "deleted job a/j2"]
    assert r.err == "error: job 'a/ghost' not found\n"
    assert [j["name"] for j in ok(home, "job", "list", "--json").json()] == ["keep"]
    r = cli(home, "job", "delete", "ghost", "spook", "keep", "--json")
    assert r.code == 1 and [j["name"] for j in r.json()] == ["keep"]
    assert "ghost" in r.err and "spook" in r.err
    assert ok(home, "job", "list", "--json").json() == []


def test_more_gpus_than_any_node_is_pending_not_an_error(home: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "8")
    ok(home, "project", "create", "a", "--quota", "16")
    job = submit(home, "a", "huge", "9")
    assert job["state"] == "Pending"
    assert job["reason"] == "no node in pool default has 9 GPUs (the largest has 8)"


def test_queued_jobs_wait_for_the_next_cycle_and_start_together(home: Path,
                                                               cli_mode: str) -> None:
    ok(home, "node", "add", "node-1", "--gpus", "2")
    ok(home, "project", "create", "team", "--quota", "2")
    queued = [submit(home, "team", f"q{i}", "0.5", "--queue-only") for i in range(3)]
    assert [(j["state"], j["reason_code"]) for j in queued] == [("Pending", "new")] * 3
    if cli_mode == "local":  # (a server's own loop may run a cycle at any moment)
        assert allocated(home) == {"team": 0.0}  # no cycle ran: nothing placed yet
        step = ok(home, "scheduler", "step", "--json").json()
        assert sorted(step["started"]) == ["team/q0", "team/q1", "team/q2"]  # one cycle
    else:
        ok(home, "scheduler", "step")
    states = {j["name"]: j["state"] for j in ok(home, "job", "list", "-p", "team",
                                                "--json").json()}
    assert states == {"q0": "Running", "q1": "Running", "q2": "Running"}
    assert allocated(home) == {"team": 1.5}
    # without --queue-only a submit runs its own cycle, as before
    assert submit(home, "team", "now", "0.5")["state"] == "Running"
