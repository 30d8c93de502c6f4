"""The ``ray`` runtime on a real Ray cluster of three nodes on loopback (tests/raybed.py)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlfabric import proctree
from mlfabric.home import open_home
from mlfabric.scheduler import jobstore
from mlfabric.scheduler.runtimes import RUNTIMES, Runtime
from mlfabric.scheduler.runtimes.ray import ADDRESS_ENV, ray_nodes
from mlfabric.testing.runtimes import RuntimeConformance
from tests.helpers import Result, run_cli
from tests.raybed import RayBed, listening


class TestRayRuntime(RuntimeConformance, runtime="ray", node="ray-a"):
    @pytest.fixture
    def rt(self, ray_bed: RayBed, monkeypatch: pytest.MonkeyPatch) -> Runtime:
        monkeypatch.setenv(ADDRESS_ENV, ray_bed.address)
        return RUNTIMES.get("ray")


# -- the scheduler on the bed: mlfabric decides, Ray runs ------------------------------------
PY = sys.executable
SLEEP = "import time; time.sleep(600)"
SHOW = ("import os; print('at', os.environ['MLFABRIC_RAY_NODE_ID'], 'gpus', "
        "os.environ['CUDA_VISIBLE_DEVICES'], flush=True); import time; time.sleep(600)")


@pytest.fixture
def ray_home(ray_bed: RayBed, home: Path) -> Iterator[Path]:
    """A home whose nodes are the bed's (synced); its jobs are deleted at the end."""
    env = {ADDRESS_ENV: ray_bed.address, "MLFABRIC_PREEMPT_GRACE": "2s"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        yield home
        for j in ok(home, "job", "list", "-A", "--json").json():
            run_cli(home, "job", "delete", j["name"], "-p", j["project"])


def ok(home: Path, *args: str, input: str | None = None) -> Result:
    r = run_cli(home, *args, input=input)
    assert r.code == 0, f"{args}: {r.err}"
    return r


def job(home: Path, name: str, project: str) -> dict:
    return ok(home, "job", "get", name, "-p", project, "--json").json()


def ray_ids(bed: RayBed) -> dict[str, str]:
    return {n.name: n.node_id for n in ray_nodes(bed.address)}


def handles(home: Path, name: str, project: str) -> list[dict]:
    st = open_home(str(home))
    row = st.catalog.run_read(lambda c: jobstore.job_row(c, name, project))
    return [p["handle"] for p in row.processes]


def wait_log(home: Path, name: str, project: str, text: str, rank: int = 0) -> str:
    deadline = time.monotonic() + 60
    while True:
        log = ok(home, "job", "logs", name, "-p", project, "--rank", str(rank)).out
        if text in log:
            return log
        assert time.monotonic() < deadline, f"{project}/{name} never wrote {text!r}: {log!r}"
        time.sleep(0.2)


def free_gpus(expected: float) -> bool:
    """Whether Ray comes to report ``expected`` GPUs free (its reports lag a moment)."""
    import ray

    deadline = time.monotonic() + 20
    while ray.available_resources().get("GPU", 0) != pytest.approx(expected):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_node_sync_makes_the_ray_nodes_the_schedulers(ray_bed: RayBed, ray_home: Path) -> None:
    r = ok(ray_home, "node", "sync", "--runtime", "ray", "--address", ray_bed.address)
    assert "node ray-a: 4 GPUs in pool default (mlfabric.io/node=ray-a)" in r.out
    assert "same path on every Ray node" in r.out
    nodes = {n["name"]: (n["gpus"], n["runtime"])
             for n in ok(ray_home, "node", "list", "--json").json()}
    assert nodes == {"ray-a": (4, "ray"), "ray-b": (4, "ray")}  # the head has no GPUs
    again = ok(ray_home, "node", "sync", "--json").json()  # the address was kept
    assert (again["added"], again["updated"], again["removed"]) == ([], [], [])


def test_each_job_runs_on_its_node_with_rays_gpus(ray_bed: RayBed, ray_home: Path) -> None:
    ok(ray_home, "node", "sync")
    ok(ray_home, "project", "create", "a", "--quota", "8")
    for name, gpus in (("three", "3"), ("two", "2"), ("half1", "0.5"), ("half2", "0.5")):
        ok(ray_home, "job", "submit", name, "-p", "a", "-g", gpus, "--", PY, "-c", SHOW)
    ids = ray_ids(ray_bed)
    seen: dict[str, str] = {}
    for name in ("three", "two", "half1", "half2"):
        j = job(ray_home, name, "a")
        assert j["state"] == "Running", j
        node = j["placements"][0]["node"]
        log = wait_log(ray_home, name, "a", "gpus")
        assert f"at {ids[node]} " in log  # Ray runs it where mlfabric placed it
        assert handles(ray_home, name, "a")[0]["node_id"] == ids[node]
        seen[name] = log.split("gpus ")[1].split()[0]
        assert len(seen[name].split(",")) == max(1, int(float(j["gpus"])))
    assert seen["half1"] == seen["half2"]  # two halves of one GPU, in Ray as in the ledger
    assert free_gpus(8 - 6)
    ok(ray_home, "job", "delete", "three", "-p", "a")
    assert free_gpus(8 - 3)  # Ray frees them too


DDP = """
import os, torch, torch.distributed as dist
dist.init_process_group("gloo")
t = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(t)
assert t.item() == 3.0, t
print("allreduce", os.environ["RANK"], os.environ["WORLD_SIZE"],
      os.environ["MLFABRIC_RAY_NODE_ID"], t.item(), flush=True)
dist.destroy_process_group()
"""


def step_until(home: Path, name: str, project: str, state: str, timeout: float = 120,
               process: bool = False) -> dict:
    """Run cycles (here, or each in a fresh process) until the job reads ``state``."""
    deadline = time.monotonic() + timeout
    while True:
        r = run_cli(home, "scheduler", "step", process=process)
        assert r.code == 0, r.err
        j = job(home, name, project)
        if j["state"] == state:
            return j
        assert time.monotonic() < deadline, f"{project}/{name} is {j['state']}, not {state}"
        time.sleep(0.3)


def test_a_2x4_ddp_gang_runs_across_two_ray_nodes(ray_bed: RayBed, ray_home: Path) -> None:
    ok(ray_home, "node", "sync")
    ok(ray_home, "project", "create", "a", "--quota", "8")
    ok(ray_home, "job", "submit", "ddp", "-p", "a", "-g", "4", "--processes", "2", "--",
       PY, "-c", DDP)
    placed = [p["node"] for p in job(ray_home, "ddp", "a")["placements"]]
    assert sorted(placed) == ["ray-a", "ray-b"]
    assert [h["placement_group"] for h in handles(ray_home, "ddp", "a")] == [
        handles(ray_home, "ddp", "a")[0]["placement_group"]] * 2
    done = step_until(ray_home, "ddp", "a", "Succeeded", timeout=180)
    assert done["exit_code"] == 0
    ids = ray_ids(ray_bed)
    for rank, node in enumerate(placed):
        log = ok(ray_home, "job", "logs", "ddp", "-p", "a", "--rank", str(rank)).out
        assert f"allreduce {rank} 2 {ids[node]} 3.0" in log
    assert free_gpus(8)  # the placement group is gone with the job


def _gone(pid: int) -> bool:
    return proctree.start_time(pid) is None


def test_a_preempted_gang_stops_whole_and_queues_again(ray_home: Path) -> None:
    ok(ray_home, "node", "sync")
    ok(ray_home, "project", "create", "a", "--quota", "4")
    ok(ray_home, "project", "create", "b", "--quota", "4")
    ok(ray_home, "job", "submit", "gang", "-p", "a", "-g", "4", "--processes", "2", "--",
       PY, "-c", SLEEP)
    assert job(ray_home, "gang", "a")["state"] == "Running"
    pids = [h["local"]["pid"] for h in handles(ray_home, "gang", "a")]
    assert len(pids) == 2 and not any(_gone(p) for p in pids)
    ok(ray_home, "job", "submit", "claim", "-p", "b", "-g", "4", "--", PY, "-c", SLEEP)
    gang = job(ray_home, "gang", "a")
    assert gang["state"] == "Pending" and all(_gone(p) for p in pids), gang
    assert job(ray_home, "claim", "b")["state"] == "Running"
    events = ok(ray_home, "job", "describe", "gang", "-p", "a", "--json").json()
    assert "preempted" in [e["kind"] for e in events["events"]]


def test_a_ray_node_that_leaves_requeues_its_jobs_and_frees_its_gpus(ray_bed: RayBed,
                                                                 ray_home: Path) -> None:
    ray_bed.add_worker("ray-c", gpus=2, labels={"mlfabric.io/pool": "spare"})
    try:
        synced = ok(ray_home, "node", "sync", "--json").json()
        assert "ray-c" in synced["added"]
        ok(ray_home, "project", "create", "s", "--quota", "2", "--node-pool", "spare")
        ok(ray_home, "job", "submit", "w", "-p", "s", "-g", "2", "--", PY, "-c", SLEEP)
        j = job(ray_home, "w", "s")
        assert j["state"] == "Running" and j["placements"][0]["node"] == "ray-c"
        pid = handles(ray_home, "w", "s")[0]["local"]["pid"]
    finally:
        ray_bed.remove_worker("ray-c")
    try:
        ok(ray_home, "scheduler", "step")  # every cycle reads the cluster's nodes first
        j = job(ray_home, "w", "s")
        assert j["state"] == "Pending" and not j["placements"], j
        assert "ray-c" not in [n["name"] for n in ok(ray_home, "node", "list", "--json").json()]
        shares = ok(ray_home, "project", "show", "s", "--json").json()
        assert shares["allocated"] == 0
    finally:
        # a machine that leaves takes its processes along; on the bed the job's outlives
        # its raylet (it runs in a session of its own): end it as the machine would
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def test_a_restarted_daemon_finds_its_ray_jobs(ray_bed: RayBed, ray_home: Path) -> None:
    ok(ray_home, "node", "sync")
    ok(ray_home, "project", "create", "a", "--quota", "1")
    wait = ("import os, time\nprint('waiting', flush=True)\n"
            "while not os.path.exists('go'):\n    time.sleep(0.05)\nprint('done')\n")
    ok(ray_home, "job", "submit", "gate", "-p", "a", "--", PY, "-c", wait)
    wait_log(ray_home, "gate", "a", "waiting")
    # another process (a daemon started afresh) connects to Ray and finds the job running
    assert step_until(ray_home, "gate", "a", "Running", process=True)["runs"] == 1
    r = run_cli(ray_home, "job", "exec", "gate", "-p", "a", "--", PY, "-c",
                "import os, sys; print(os.environ['MLFABRIC_RAY_NODE_ID'], os.getuid(), "
                "os.path.exists(sys.argv[1]))", str(ray_home / "catalog.db"),
                process=True)  # what the command prints goes to the terminal
    assert r.code == 0, r
    node = job(ray_home, "gate", "a")["placements"][0]["node"]
    uid = ok(ray_home, "project", "show", "a", "--json").json()["uid"]
    ran_at, ran_as, sees_catalog = r.out.split()
    assert ran_at == ray_ids(ray_bed)[node]
    if os.geteuid() == 0:  # confined: its project's uid, in the job's sandbox
        assert (int(ran_as), sees_catalog) == (uid, "False") and uid != 0
    (ray_home / "jobs" / "a" / "gate" / "work" / "go").touch()
    # a fresh process follows the log through Ray, running cycles until the job ends
    r = run_cli(ray_home, "job", "logs", "gate", "-p", "a", "--follow", process=True)
    assert (r.code, r.out) == (0, "waiting\ndone\n"), r
    assert job(ray_home, "gate", "a")["state"] == "Succeeded"


def test_node_sync_refuses_what_it_cannot_use(home: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"  # nothing listens there
    for args, message in (
            ((), "error: no Ray cluster: give --address HOST:PORT or set MLFABRIC_RAY_ADDRESS"),
            (("--address", "head:x"), "error: invalid Ray address 'head:x': expected HOST:PORT"),
            (("--address", closed), f"error: cannot reach the Ray cluster at {closed}: "),
            (("--runtime", "local"), "error: the local runtime has no cluster to discover")):
        r = run_cli(home, "node", "sync", *args, process=True)
        assert (r.code, r.out) == (1, ""), r
        assert r.err.startswith(message) and r.err.count("\n") == 1, r.err
    assert ok(home, "node", "list", "--json").json() == []
    assert not (home / "ray").exists()


def _scenario(home: Path) -> list[dict[tuple[str, str], tuple[str, tuple[str, ...]]]]:
    """Quota split, borrowing, reclaim by preemption and two halves of one GPU, step by
    step: each job's state and nodes after each step."""
    ok(home, "project", "create", "a", "--quota", "6")
    ok(home, "project", "create", "b", "--quota", "2")
    steps = [[("a", f"a{i}", "2") for i in range(5)],  # a borrows b's idle quota
             [("b", "b0", "1")],  # b reclaims: a's newest running job goes
             [("b", "h0", "0.5"), ("b", "h1", "0.5")]]  # two halves of b's other GPU
    seen = []
    for step in steps:
        for project, name, gpus in step:
            ok(home, "job", "submit", name, "-p", project, "-g", gpus, "--", PY, "-c", SLEEP)
        ok(home, "scheduler", "step")
        seen.append({(j["project"], j["name"]): (j["state"],
                                                  tuple(p["node"] for p in j["placements"]))
                     for j in ok(home, "job", "list", "-A", "--json").json()})
    return seen


def test_the_sim_scenarios_decide_the_same_with_real_ray_actors(
        ray_bed: RayBed, ray_home: Path, tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    for name in ("ray-a", "ray-b"):
        ok(sim, "node", "add", name, "--gpus", "4", "--runtime", "sim")
    expected = _scenario(sim)
    ok(ray_home, "node", "sync")
    got = _scenario(ray_home)
    assert got == expected
    assert sorted(s for s, _ in got[1].values()) == ["Pending"] * 2 + ["Running"] * 4
    ids = ray_ids(ray_bed)
    for (project, name), (state, nodes) in got[-1].items():
        if state == "Running":  # each running job's Ray node is the one placed
            assert [h["node_id"] for h in handles(ray_home, name, project)] == \
                [ids[n] for n in nodes]
    assert free_gpus(0)  # Ray's accounting is the ledger's: all 8 held


def test_the_bed_listens_on_loopback_only(ray_bed: RayBed) -> None:
    """Last in the module: the Ray workers that ran jobs, and this process (a driver),
    are checked too."""
    pids = [*ray_bed.pids(), os.getpid()]
    sockets = listening(pids)
    assert len(pids) >= 6 and len(sockets) >= 6, (pids, sockets)
    outside = sorted(s for s in sockets if not ipaddress.ip_address(s[0]).is_loopback)
    assert outside == []
    assert ("127.0.0.1", 0) not in sockets and any(a == "127.0.0.1" for a, _ in sockets)
