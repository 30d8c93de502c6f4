"""Workspaces, inference servers, cached datasets and Dask clusters on the ``ray`` runtime,
on the loopback bed of tests/raybed.py: each service runs as a Ray actor on the node
mlfabric placed it on and reports that node and its address; a job's datasets are leased
from the cache pool its node names (``mlfabric.io/cache-pool``); a Dask gang spans Ray
nodes (its scheduler file on the shared path). One home for the module."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlfabric import datasets as lake
from mlfabric import proctree, remotes, volumes
from tests.component.test_ray_runtime import handles, job, ok, ray_ids, step_until, wait_log
from tests.component.test_serving import kill_leftovers, wait_for
from tests.component.test_serving_models import write_tail
from tests.e2e.test_scheduler_dask import GROUPBY, groupby_result, sales_volume
from tests.helpers import run_cli
from tests.raybed import CACHE_POOLS, RayBed

PASSWORD = "correct horse battery staple"
PY = sys.executable


@pytest.fixture(scope="module")
def ray_services(ray_bed: RayBed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home synced to the bed, with project ``team``, a ``models`` volume holding a
    model and dataset ``pets:v1`` in a local lake; whatever runs is ended at the end."""
    from mlfabric.scheduler.runtimes.ray import ADDRESS_ENV

    home = tmp_path_factory.mktemp("ray-services") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ADDRESS_ENV, ray_bed.address)
        mp.setenv("MLFABRIC_PREEMPT_GRACE", "2s")
        ok(home, "node", "sync", "--runtime", "ray", "--address", ray_bed.address)
        ok(home, "project", "create", "team", "--quota", "8")
        ok(home, "volume", "create", "models")
        write_tail(Path(volumes.path("models", home=str(home))))
        volumes.create("refdata", home=str(home))
        Path(volumes.path("refdata", home=str(home)), "labels.csv").write_text("cat,1\n")
        remotes.add("lake", str(home.parent / "lake"), home=str(home))
        lake.push("refdata", name="pets", remote="lake", home=str(home))
        try:
            yield home
        finally:
            for ws in ok(home, "workspace", "list", "-A", "--json").json():
                run_cli(home, "workspace", "delete", ws["name"])
            for srv in ok(home, "inference", "list", "-A", "--json").json():
                run_cli(home, "inference", "delete", srv["name"])
            for j in ok(home, "job", "list", "-A", "--json").json():
                run_cli(home, "job", "delete", j["name"], "-p", j["project"])
            kill_leftovers(home)


def placed_where_it_runs(bed: RayBed, home: Path, record: dict, job_name: str) -> None:
    """The service's record names the node its job was placed on, with that node's
    address, and the Ray actor that runs it is on that very node."""
    info = job(home, job_name, "team")
    assert info["state"] == "Running", info
    node = info["placements"][0]["node"]
    assert (record["node"], record["node_address"]) == (node, "127.0.0.1")
    assert info["node_address"] == "127.0.0.1"
    [handle] = handles(home, job_name, "team")
    assert handle["node_id"] == ray_ids(bed)[node]


def answers(url: str, timeout: float = 90) -> int:
    """The status of the first answer ``url`` gives (a server may still be starting)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=10).status_code
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.2)


def test_a_workspace_runs_on_its_ray_node_and_answers_there(ray_bed: RayBed,
                                                           ray_services: Path) -> None:
    home = ray_services
    made = ok(home, "workspace", "create", "nb", "-p", "team", "-g", "1", "--password-stdin",
              "--json", input=PASSWORD + "\n").json()
    assert made["state"] == "Running", made
    shown = ok(home, "workspace", "show", "nb", "--json").json()
    placed_where_it_runs(ray_bed, home, shown, "ws-nb")
    assert shown["url"] == f"http://127.0.0.1:{shown['port']}/lab"
    login = shown["url"].rsplit("/lab", 1)[0] + "/login"
    assert answers(login) == 200
    assert "Jupyter" in httpx.get(login, timeout=10).text
    # started by the job's Ray actor in the job's sandbox: as its project's uid, not root
    [pid] = job(home, "ws-nb", "team")["pids"]
    lab = [p for p, _ in proctree.descendants(pid)
           if b"jupyterlab" in Path(f"/proc/{p}/cmdline").read_bytes()]
    uid = ok(home, "project", "show", "team", "--json").json()["uid"]
    assert len(lab) == 1 and uid is not None and os.stat(f"/proc/{lab[0]}").st_uid == uid
    ok(home, "workspace", "delete", "nb")


def test_an_inference_server_runs_on_its_ray_node_and_answers_there(
        ray_bed: RayBed, ray_services: Path) -> None:
    home = ray_services
    made = ok(home, "inference", "create", "srv", "--model-repo", "models", "-p", "team",
              "-g", "0.5", "--json").json()
    assert (made["state"], made["ready"]) == ("ready", True), made
    shown = ok(home, "inference", "show", "srv", "--json").json()
    placed_where_it_runs(ray_bed, home, shown, "inference-srv")
    assert shown["http_url"] == f"http://127.0.0.1:{shown['http_port']}"
    assert answers(shown["http_url"] + "/v2/health/ready") == 200
    ok(home, "inference", "delete", "srv")


SHOW_DATASET = ("import os; p = os.environ['MLFABRIC_DATASET_PETS']; "
                "print('dataset', p, open(os.path.join(p, 'labels.csv')).read().strip(), "
                "flush=True); import time; time.sleep(600)")


def test_datasets_are_cached_in_the_pool_their_node_names(ray_bed: RayBed,
                                                         ray_services: Path) -> None:
    home = ray_services

    def submit(name: str) -> dict:
        ok(home, "job", "submit", name, "-p", "team", "-g", "4", "--dataset", "pets:v1",
           "--", PY, "-c", SHOW_DATASET)
        return job(home, name, "team")

    # one job per node (4 GPUs each); the labelled node's pool is not there yet: the job
    # placed there cannot start, and says why
    first = {name: submit(name) for name in ("d1", "d2")}
    [failed] = [j for j in first.values() if j["state"] == "Failed"]
    [missing] = set(CACHE_POOLS.values())
    assert failed["message"] == f"could not start: cache pool '{missing}' not found"
    pools = {name: home.parent / f"cache-{name}" for name in set(CACHE_POOLS.values())}
    for name, path in pools.items():
        ok(home, "cache", "config", "--pool", name, "--path", str(path))
    ok(home, "job", "delete", failed["name"], "-p", "team")
    assert submit(failed["name"])["state"] == "Running"  # on the labelled node, its pool now
    default = Path(ok(home, "cache", "config", "--json").json()["path"])
    seen = {}
    for name in ("d1", "d2"):
        node = job(home, name, "team")["placements"][0]["node"]
        log = wait_log(home, name, "team", "dataset")
        path, content = log.split("dataset ", 1)[1].split()[:2]
        want = pools[CACHE_POOLS[node]] if node in CACHE_POOLS else default
        assert Path(path).is_relative_to(want), (node, path, want)
        assert content == "cat,1"
        seen[node] = path
    assert sorted(seen) == ["ray-a", "ray-b"]
    leases = {e["pool"]: e["leases"] for e in ok(home, "cache", "list", "--json").json()}
    assert sorted(leases) == ["default", *CACHE_POOLS.values()], leases
    assert all(len(held) == 1 for held in leases.values()), leases
    for name in ("d1", "d2"):
        ok(home, "job", "delete", name, "-p", "team")
    for entry in ok(home, "cache", "list", "--json").json():
        assert entry["leases"] == [], entry  # given back in the pool they were taken


def test_a_dask_gang_runs_across_ray_nodes_and_its_processes_end_with_it(
        ray_bed: RayBed, ray_services: Path) -> None:
    home = ray_services
    vol = sales_volume(home, ok)
    # 2 GPUs per process, 4 per node: the gang spans both worker nodes
    ok(home, "job", "submit", "sums", "-p", "team", "-g", "2", "--processes", "3",
       "--engine", "dask", "--volume", "sales", "--", PY, "-c", GROUPBY)
    result = groupby_result(vol)
    running = job(home, "sums", "team")
    placed = [p["node"] for p in running["placements"]]
    assert sorted(set(placed)) == ["ray-a", "ray-b"]
    ids = ray_ids(ray_bed)
    assert [h["node_id"] for h in handles(home, "sums", "team")] == [ids[n] for n in placed]
    assert running["endpoints"]["scheduler"] == result["address"]
    procs = [(pid, start) for pid in running["pids"]
             if (start := proctree.start_time(pid)) is not None]
    procs += [d for pid, _ in procs for d in proctree.descendants(pid)]
    assert len(procs) >= 6  # each rank's sandbox and its Dask process at least
    (vol / "go").touch()
    done = step_until(home, "sums", "team", "Succeeded")
    assert done["exit_code"] == 0 and done["endpoints"] == {}
    wait_for(lambda: proctree.alive(procs) == [], "the Dask processes to end", timeout=30)
