"""The ``ray`` runtime on a real Ray cluster of three nodes on loopback (tests/raybed.py)."""

from __future__ import annotations

import ipaddress
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlfabric.home import open_home
from mlfabric.scheduler import jobstore
from mlfabric.scheduler.runtimes import RUNTIMES, Runtime
from mlfabric.scheduler.runtimes.ray import ADDRESS_ENV, ray_nodes
from mlfabric.testing.runtimes import RuntimeConformance
from tests.helpers import Result, run_cli
from tests.raybed import RayBed, listening


def test_the_bed_listens_on_loopback_only(ray_bed: RayBed) -> None:
    pids = ray_bed.pids()
    sockets = listening(pids)
    assert len(pids) >= 6 and len(sockets) >= 6, (pids, sockets)
    outside = sorted(s for s in sockets if not ipaddress.ip_address(s[0]).is_loopback)
    assert outside == []
    assert ("127.0.0.1", 0) not in sockets and any(a == "127.0.0.1" for a, _ in sockets)


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


def ok(home: Path, *args: str) -> Result:
    r = run_cli(home, *args)
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
