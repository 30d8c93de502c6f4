"""Click-through-rate training on a real Dask ``LocalCluster`` (two worker processes, one
for the module) against the pandas reference recipe: the same rows, the same metrics,
the memory budget on both sides, malformed lines on the workers, the run recorded in a
snapshot, and the report."""

from __future__ import annotations

import json
import resource
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, LocalCluster

from mlfabric import snapshots, volumes
from mlfabric.apps import ctr
from mlfabric.apps.ctr.dask_engine import memory_budget


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", memory_limit=0,
                      silence_logs=40) as c:
        yield c.scheduler_address


@pytest.fixture(scope="module")
def clicks(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ctr.CtrDataset]:
    root = str(tmp_path_factory.mktemp("ctr") / "clicks")
    return root, ctr.make_data(root, rows=8000, days=2, shard_rows=2000, seed=5)


def test_pandas_and_dask_train_on_the_same_rows_with_the_same_metrics(clicks, cluster) -> None:
    data, made = clicks
    seen: list[tuple] = []
    base = ctr.train(data, engine="pandas", model="rf", rows=6000)
    rf = ctr.train(data, engine="dask", model="rf", rows=6000, scheduler_address=cluster,
                   on_cluster=lambda *a: seen.append(a))
    boosted = ctr.train(data, engine="dask", model="xgboost", rows=6000,
                        scheduler_address=cluster)
    for r in (base, rf, boosted):
        # the first 6000 rows: shards 1-3 of 4; rows 8 and 9 of every 10 held out
        assert (r.rows, r.train_rows, r.test_rows) == (6000, 4800, 1200)
        assert 0 < r.log_loss < 1 and 0.5 < r.accuracy <= 1
        assert 0.55 < r.auc <= made.bayes_auc == r.bayes_auc
    assert (base.categorical, boosted.categorical) == ("none", "target")
    assert (base.workers, rf.workers, boosted.workers) == (1, 2, 2)
    # the dashboard link is announced before training, on loopback
    assert seen == [(cluster, rf.dashboard, 2)] and rf.scheduler == cluster
    assert rf.dashboard.startswith("http://127.0.0.1:") and rf.dashboard.endswith("/status")
    # the categories carry most of the planted signal: boosting on them beats the recipe
    assert boosted.auc > base.auc + 0.05


def test_dask_trains_on_three_times_the_pandas_budget_while_pandas_refuses(
        tmp_path: Path, cluster: str) -> None:
    budget = 16 * 2**20
    data = str(tmp_path / "big")
    made = ctr.make_data(data, rows=230_000, shard_rows=25_000, seed=2)
    assert made.bytes > 3 * budget
    with pytest.raises(ctr.MemoryBudgetExceeded, match="pandas engine needs about"):
        ctr.train(data, engine="pandas", memory=budget)
    # Each worker may allocate 16 MiB more than it holds (RLIMIT_DATA): it streams.
    r = ctr.train(data, engine="dask", memory=budget, scheduler_address=cluster)
    assert r.rows == 230_000 and r.workers == 2 and r.auc > 0.6
    assert r.memory_budget == budget and r.estimate is None
    with Client(cluster) as client:
        before = set(client.scheduler_info(n_workers=-1)["workers"])
        with memory_budget(client, budget):  # the limit bites: 32 MiB more fails
            with pytest.raises(MemoryError):
                client.submit(lambda: np.ones(4 << 20).sum(), pure=False).result()
            assert client.submit(lambda: np.ones(1 << 10).sum(), pure=False).result() == 1024
        assert set(client.scheduler_info(n_workers=-1)["workers"]) == before
        # and the workers have their own limits back (inherited from this process)
        limits = client.run(resource.getrlimit, resource.RLIMIT_DATA)
        assert set(map(tuple, limits.values())) == {resource.getrlimit(resource.RLIMIT_DATA)}


def test_malformed_lines_are_skipped_and_reported_per_shard_on_workers(
        tmp_path: Path, clicks, cluster: str) -> None:
    src, _ = clicks
    data = tmp_path / "dirty"
    data.mkdir()
    lines = (Path(src) / "day_0/part-00000.tsv").read_text().splitlines()
    dirty = ["1\t2\t3", "x" + lines[0][1:], lines[1].replace("\t", "\tz", 1),
             lines[2][:-3] + "QQQ"]
    (data / "part-00000.tsv").write_text("\n".join(lines[:1000] + dirty[:2]) + "\n")
    (data / "part-00001.tsv").write_text("\n".join(dirty[2:] + lines[1000:]) + "\n")
    with Client(cluster) as client:
        before = set(client.scheduler_info(n_workers=-1)["workers"])
    for engine in ("dask", "pandas"):
        r = ctr.train(str(data), engine=engine, scheduler_address=cluster)
        assert r.rows == 2000 and r.malformed == 4
        assert [(Path(s["path"]).name, s["skipped"]) for s in r.shard_reports] == [
            ("part-00000.tsv", {"bad label": 1, "wrong field count": 1}),
            ("part-00001.tsv", {"non-hex category": 1, "non-numeric integer": 1})]
    with Client(cluster) as client:  # no worker died or restarted
        assert set(client.scheduler_info(n_workers=-1)["workers"]) == before


def test_model_metrics_and_data_version_are_recorded_in_one_snapshot(home: Path) -> None:
    volumes.create("clicks", home=str(home))
    volumes.create("models", home=str(home))
    made = ctr.make_data("d", rows=2000, shard_rows=1000, to_volume="clicks", home=str(home))
    assert made.snapshot == snapshots.list("clicks", home=str(home))[-1].ref
    r = ctr.train(made.path, run="first", out="models", home=str(home))
    assert r.snapshot == "models@first" and r.data_version == made.snapshot
    clone = volumes.clone("first-copy", "models@first", home=str(home))
    recorded = Path(clone.path) / "runs/first"
    assert sorted(p.name for p in recorded.iterdir()) == ["metrics.json", "model.pkl",
                                                          "shards.json"]
    metrics = json.loads((recorded / "metrics.json").read_text())
    assert metrics["auc"] == r.auc and metrics["data_version"] == made.snapshot
    assert metrics["snapshot"] == "models@first" and metrics["model_file"] == "model.pkl"
    assert [x["run"] for x in ctr.runs("models", home=str(home))] == ["first"]
    with pytest.raises(Exception, match="already recorded"):
        ctr.train(made.path, run="first", out="models", home=str(home))


def test_report_compares_engines_at_equal_rows_within_a_budget(clicks, cluster,
                                                               tmp_path: Path) -> None:
    data, _ = clicks
    budget = ctr.estimate(3000, "none", -1)
    r = ctr.report(data, rows="2000,6000", out=str(tmp_path / "rep"), model="rf",
                   memory=budget, scheduler_address=cluster)
    assert [(x["engine"], x["rows"], x["refused"]) for x in r.runs] == [
        ("pandas", 2000, False), ("dask", 2000, False), ("pandas", 6000, True),
        ("dask", 6000, False)]
    assert r.largest == {"pandas": 2000, "dask": 6000}
    pandas_2k, dask_2k = r.runs[0], r.runs[1]
    assert pandas_2k["test_rows"] == dask_2k["test_rows"] == 400
    assert Path(r.plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = Path(r.table).read_text()
    assert "refused: over budget" in table and table.count("\n") == 6
    assert json.loads((tmp_path / "rep/report.json").read_text())["largest"] == r.largest
