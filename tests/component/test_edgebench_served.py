"""edgebench through ``mlfabric inference`` servers (real tritonserver from the
nvidia-pytriton wheel, run as scheduled jobs): all three LoadGen scenarios VALID through
one server, two servers pinned to disjoint cores behind the SUT round-robin, and the
1-vs-2 offline comparison. Throughput itself is measured by bench/edgebench.py."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlfabric import jobs, nodes, projects, serving, volumes
from mlfabric.apps import edgebench
from mlfabric.apps.edgebench.servers import process_tree
from mlfabric.errors import MlfabricError
from tests.component.test_serving import kill_leftovers

FAST = {"min_duration_ms": 200, "samples_per_query": 2}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    home_path = tmp_path_factory.mktemp("edgeserved") / "home"
    home = str(home_path)
    nodes.add("n1", gpus=1, home=home)
    projects.create("team", quota=1, home=home)
    for v in ("edgebench-models", "imgs"):
        volumes.create(v, home=home)
    edgebench.make_models("edgebench-models", names=["resnet"], size=32, train_steps=0,
                          home=home)
    edgebench.make_data("imgs", images=24, size=32, home=home)
    names: list[str] = []
    try:
        names = edgebench.start_servers("edge", repo="edgebench-models", count=2,
                                        project="team", gpus=0.5, home=home)
        yield home, names
    finally:
        with contextlib.suppress(MlfabricError):
            edgebench.stop_servers(names, home=home)
        kill_leftovers(home_path)


@pytest.mark.parametrize("scenario", ["offline", "singlestream", "multistream"])
def test_scenarios_are_valid_through_an_inference_server(served: tuple[str, list[str]],
                                                         scenario: str) -> None:
    home, _ = served
    r = edgebench.run(scenario, model="resnet", data="imgs", target="inference:edge-1",
                      home=home, **FAST)
    assert r.valid and r.target == "inference:edge-1" and r.servers == 1
    assert "Result is : VALID" in (Path(r.logs) / "mlperf_log_summary.txt").read_text()


def test_two_servers_are_pinned_apart_and_share_the_offline_load(
        served: tuple[str, list[str]]) -> None:
    home, names = served
    cores = []
    for name in names:
        info = jobs.get(serving.show(name, home=home).job, project="team", home=home)
        tree = process_tree(list(info.pids))
        assert len(tree) > 1  # the launcher and tritonserver with its stubs
        cores.append(set.union(*(os.sched_getaffinity(p) for p in tree)))
    if len(os.sched_getaffinity(0)) >= 2:
        assert not cores[0] & cores[1]
    c = edgebench.compare_servers(model="resnet", data="imgs", target="inference:edge-1,edge-2",
                                  runs=1, min_duration_ms=200, home=home)
    stored = {r.id: r for r in edgebench.results(home=home)}
    one, two = (stored[i] for i in c.runs)
    assert (one.servers, two.servers) == (1, 2) and one.valid and two.valid
    assert two.target == "inference:edge-1,edge-2"
    assert c.ratio == pytest.approx(two.samples_per_second / one.samples_per_second, rel=1e-3)
    assert Path(c.charts[0]).read_bytes().startswith(b"\x89PNG")
