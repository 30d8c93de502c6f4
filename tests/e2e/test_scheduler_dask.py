"""Dask clusters as gang jobs on the ``local`` runtime (``job submit --engine dask``): a
scheduler and two workers started with distributed's own commands in the job's sandbox,
a dask.dataframe groupby over a volume, the address published, everything on loopback,
and every process gone when the job ends or is deleted."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import psutil

from mlfabric import proctree
from tests.e2e.test_scheduler_local import LOCAL, PY, job, ok, wait_for, wait_state
from tests.helpers import Result, run_cli

ADDRESS = re.compile(r"^tcp://127\.0\.0\.1:\d+$")

GROUPBY = """
import json, os, pathlib, time
import dask.dataframe as dd
from distributed import Client
vol = pathlib.Path(os.environ["MLFABRIC_VOLUME_SALES"])
with Client(os.environ["MLFABRIC_DASK_ADDRESS"]) as client:
    workers = client.scheduler_info(n_workers=-1)["workers"]
    sums = dd.read_csv(str(vol / "part-*.csv")).groupby("region").amount.sum()
    future = client.compute(sums)
    result = future.result()
    ran_on = sorted(client.who_has(future)[future.key])
    names = {a: w["name"] for a, w in workers.items()}
    (vol / "result.json").write_text(json.dumps({
        "sums": {k: int(v) for k, v in result.items()},
        "workers": sorted(names.values()), "ran_on": [names[a] for a in ran_on],
        "resources": sorted(w["resources"]["GPU"] for w in workers.values()),
        "address": os.environ["MLFABRIC_DASK_ADDRESS"]}))
    while not (vol / "go").exists():  # the test looks at the processes meanwhile
        time.sleep(0.05)
"""


def sales_volume(home: Path, ok: Callable[..., Result]) -> Path:
    """A ``sales`` volume of two CSV parts (``ok`` runs the CLI); its folder."""
    ok(home, "volume", "create", "sales")
    vol = Path(ok(home, "volume", "path", "sales").out.strip())
    (vol / "part-1.csv").write_text("region,amount\neu,5\nus,7\neu,1\n")
    (vol / "part-2.csv").write_text("region,amount\nus,3\napac,4\neu,2\n")
    return vol


def groupby_result(vol: Path) -> dict:
    """What GROUPBY wrote once it has, its sums and workers checked."""
    wait_for(lambda: (vol / "result.json").exists(), "the groupby's result", timeout=120)
    result = json.loads((vol / "result.json").read_text())
    assert result["sums"] == {"eu": 8, "us": 10, "apac": 4}
    assert result["workers"] == ["rank-1", "rank-2"]
    assert set(result["ran_on"]) <= {"rank-1", "rank-2"} and result["ran_on"]
    return result


def _setup(home: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "4")
    ok(home, "project", "create", "a", "--quota", "4")


def _processes(pids: list[int]) -> list[proctree.Proc]:
    """Every process of a job now: its ranks' and all below them (in their sandboxes)."""
    out: list[proctree.Proc] = []
    for pid in pids:
        start = proctree.start_time(pid)
        if start is not None:
            out += [(pid, start), *proctree.descendants(pid)]
    return out


def _roles(procs: list[proctree.Proc]) -> list[str]:
    """The Dask processes among ``procs`` (``python -m dask ROLE``, not the launchers and
    sandboxes whose command lines carry theirs)."""
    roles = []
    for pid, _ in procs:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if cmd[1:3] == [b"-m", b"dask"]:
            roles.append(cmd[3].decode())
    return sorted(roles)


def _listening(procs: list[proctree.Proc]) -> set[tuple[str, int]]:
    """The addresses ``procs`` listen on."""
    found = set()
    for pid, _ in procs:
        try:
            conns = psutil.Process(pid).net_connections(kind="inet")
        except psutil.Error:
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
    return found


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def test_dask_cluster_groupby_on_a_volume_and_its_processes_end_with_it(
        local_home: Path) -> None:
    home = local_home
    _setup(home)
    vol = sales_volume(home, ok)
    # Half a GPU per process: the scheduler and a worker share GPU 0, the other worker GPU 1.
    ok(home, "job", "submit", "sums", "-p", "a", "-g", "0.5", "--processes", "3",
       "--engine", "dask", "--volume", "sales", "--", PY, "-c", GROUPBY)
    result = groupby_result(vol)
    assert result["resources"] == [0.5, 0.5]  # tasks may ask for the worker's GPU share

    running = job(home, "sums", "a")
    assert running["state"] == "Running" and running["engine"] == "dask"
    assert [(p["gpus"], p["fraction"]) for p in running["placements"]] == \
        [([0], 0.5), ([0], 0.5), ([1], 0.5)]
    assert running["endpoints"]["scheduler"] == result["address"]
    assert ADDRESS.match(result["address"])
    assert re.match(r"^http://127\.0\.0\.1:\d+/status$", running["endpoints"]["dashboard"])
    procs = _processes(running["pids"])
    assert _roles(procs) == ["scheduler", "worker", "worker"]
    listening = _listening(procs)  # scheduler, dashboard, workers: loopback only
    assert {ip for ip, _ in listening} == {"127.0.0.1"}
    assert {_port(result["address"]), _port(running["endpoints"]["dashboard"])} <= \
        {port for _, port in listening}

    (vol / "go").touch()
    done = wait_state(home, "sums", "a", "Succeeded", timeout=60)
    assert done["exit_code"] == 0 and done["endpoints"] == {}
    assert proctree.alive(procs) == []
    log = ok(home, "job", "logs", "sums", "-p", "a", "--rank", "1").out
    assert "Registered to:" in log and result["address"] in log


def _up(home: Path, name: str, project: str) -> dict:
    """The job once its scheduler is up and both workers run, with its processes."""
    seen: dict = {}

    def _check() -> bool:
        seen.update(job(home, name, project))
        seen["procs"] = _processes(seen["pids"])
        return "scheduler" in seen["endpoints"] and len(_roles(seen["procs"])) == 3

    wait_for(_check, f"the Dask cluster {project}/{name} to be up", timeout=60)
    return seen


def test_preemption_and_delete_tear_a_running_dask_cluster_down(local_home: Path) -> None:
    home = local_home
    ok(home, "node", "add", "n1", "--gpus", "4")
    ok(home, "project", "create", "lo", "--quota", "0")
    ok(home, "project", "create", "hi", "--quota", "4")
    # No command: the cluster is a service until deleted; lo borrows the GPUs it holds.
    ok(home, "job", "submit", "svc", "-p", "lo", "-g", "1", "--processes", "3",
       "--engine", "dask")
    first = _up(home, "svc", "lo")
    assert first["state"] == "Running"
    shown = ok(home, "job", "describe", "svc", "-p", "lo").out
    assert first["endpoints"]["scheduler"] in shown and "dask dashboard" in shown
    # Next to the cluster (in its sandbox), a command gets its address.
    r = run_cli(home, "job", "exec", "svc", "-p", "lo", "--", "printenv",
                "MLFABRIC_DASK_ADDRESS", env=LOCAL, process=True)
    assert (r.code, r.out.strip()) == (0, first["endpoints"]["scheduler"]), r.err

    # No grace: the scheduler is killed before it can remove its address file.
    r = run_cli(home, "job", "submit", "urgent", "-p", "hi", "-g", "4", "--", PY, "-c",
                "import time; time.sleep(60)", env={**LOCAL, "MLFABRIC_PREEMPT_GRACE": "0s"})
    assert r.code == 0, r.err
    again = job(home, "svc", "lo")
    assert again["state"] == "Pending" and again["endpoints"] == {}
    assert proctree.alive(first["procs"]) == []  # preempted whole

    ok(home, "job", "delete", "urgent", "-p", "hi")
    wait_state(home, "svc", "lo", "Running")
    second = _up(home, "svc", "lo")
    assert second["runs"] == 2 and not set(second["procs"]) & set(first["procs"])
    # what it publishes is the new scheduler's address, not the last run's file
    assert ("127.0.0.1", _port(second["endpoints"]["scheduler"])) in _listening(second["procs"])
    ok(home, "job", "delete", "svc", "-p", "lo")
    assert proctree.alive(second["procs"]) == []
    assert run_cli(home, "job", "get", "svc", "-p", "lo").code == 1


def test_a_dask_cluster_needs_a_worker(local_home: Path) -> None:
    home = local_home
    _setup(home)
    r = run_cli(home, "job", "submit", "one", "-p", "a", "--processes", "1",
                "--engine", "dask")
    assert r.code == 1
    assert r.err == ("error: a Dask cluster needs a scheduler and at least one worker: "
                     "--processes 2 or more (got 1)\n")
    r = run_cli(home, "job", "submit", "x", "-p", "a", "--processes", "2", "--engine", "spark")
    assert r.code == 1 and r.err == "error: unknown engine 'spark': expected one of dask\n"
    assert ok(home, "job", "list", "-A", "--json").json() == []
