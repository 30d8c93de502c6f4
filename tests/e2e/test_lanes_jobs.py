"""Lane-detection training as scheduler gang jobs on the ``local`` runtime: a 2-process
DDP run that snapshots its volume on completion (and matches one process's result), a
gang preempted mid-training that resumes from its checkpoint, the lineage of a job, and
a retrain from the snapshot that reproduces the checkpoint's metrics exactly."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlfabric import snapshots
from mlfabric.apps import lanes
from mlfabric.errors import NotFound
from tests.conftest import kill_jobs
from tests.e2e.test_dashboard import CHROMIUM, CHROMIUM_ARGS, expect, open_dashboard, playwright_api
from tests.e2e.test_scheduler_local import LOCAL, job, ok, wait_for, wait_state
from tests.server import Server, start_server

EPOCHS = 6
RECIPE = ["--epochs", str(EPOCHS), "--size", "64x32", "--batch-size", "4", "--width", "8"]
TRAIN = [sys.executable, "-m", "mlfabric.cli.main", "lanes", "train", "--data", "data",
         *RECIPE]
TOLERANCE = 0.02  # accuracy, FP and FN of 2 processes against 1 (the same global batch)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home with a 2-GPU node, projects ``a`` (quota 2) and ``lo`` (quota 0), and a
    volume ``lanes`` holding a tiny dataset."""
    home = tmp_path_factory.mktemp("lanes") / "home"
    ok(home, "node", "add", "n1", "--gpus", "2")
    ok(home, "project", "create", "a", "--quota", "2")
    ok(home, "project", "create", "lo", "--quota", "0")
    ok(home, "project", "create", "hi", "--quota", "2")
    for vol in ("lanes", "lanes-lo"):
        ok(home, "volume", "create", vol)
        path = ok(home, "volume", "path", vol).out.strip()
        ok(home, "lanes", "make-data", path, "--images", "40", "--size", "128x64", "--seed", "3")
    yield home
    kill_jobs(home)


def summary(home: Path, volume: str) -> dict:
    path = Path(ok(home, "volume", "path", volume).out.strip())
    return json.loads((path / "model" / "metrics.json").read_text())


@pytest.fixture(scope="module")
def trained(cluster: Path) -> dict:
    """The uninterrupted 2-process gang run, snapshotted when it succeeds."""
    home = cluster
    ok(home, "job", "submit", "train", "-p", "a", "-g", "1", "--processes", "2",
       "--volume", "lanes:data", "--snapshot-on-complete", "lanes", "--", *TRAIN)
    done = wait_state(home, "train", "a", "Succeeded", timeout=240)
    return {"job": done, "summary": summary(home, "lanes")}


def test_two_process_gang_trains_like_one_process(cluster: Path, trained: dict,
                                                  tmp_path: Path) -> None:
    home = cluster
    assert trained["job"]["snapshot"] == "lanes@a-train"
    log = ok(home, "job", "logs", "train", "-p", "a", "--rank", "0").out
    assert f"trained data/model to epoch {EPOCHS} (2 processes, gloo)" in log
    got = trained["summary"]
    assert got["world_size"] == 2 and got["epoch"] == EPOCHS
    # One process over the same data and recipe takes the same steps.
    data = tmp_path / "data"
    shutil.copytree(ok(home, "volume", "path", "lanes").out.strip(), data,
                    ignore=shutil.ignore_patterns("model"))
    one = lanes.train(str(data), epochs=EPOCHS, size="64x32", batch_size=4, width=8, threads=1)
    assert one.world_size == 1
    assert one.losses == pytest.approx(got["losses"], rel=1e-3)
    for key in ("accuracy", "fp", "fn"):
        assert abs(one.metrics[key] - got["metrics"][key]) <= TOLERANCE, (one.metrics, got)


def test_preempted_gang_resumes_from_its_checkpoint(cluster: Path, trained: dict) -> None:
    home = cluster
    out = Path(ok(home, "volume", "path", "lanes-lo").out.strip()) / "model" / "metrics.json"
    ok(home, "job", "submit", "victim", "-p", "lo", "-g", "1", "--processes", "2",
       "--volume", "lanes-lo:data", "--", *TRAIN)
    wait_for(out.is_file, "the first checkpoint", timeout=120)
    first = json.loads(out.read_text())["epoch"]
    ok(home, "job", "submit", "urgent", "-p", "hi", "-g", "2", "--", sys.executable, "-c",
       "import time; time.sleep(60)")
    victim = job(home, "victim", "lo")
    assert victim["state"] == "Pending" and victim["runs"] == 1, victim
    stopped_at = json.loads(out.read_text())["epoch"]
    assert first <= stopped_at < EPOCHS
    ok(home, "job", "delete", "urgent", "-p", "hi")
    done = wait_state(home, "victim", "lo", "Succeeded", timeout=240)
    assert done["runs"] == 2
    log = ok(home, "job", "logs", "victim", "-p", "lo", "--rank", "0").out
    assert f"to epoch {EPOCHS} from epoch {stopped_at} (2 processes" in log, log
    resumed = summary(home, "lanes-lo")
    assert resumed["epoch"] == EPOCHS
    assert resumed["dataset_version"] == trained["summary"]["dataset_version"]  # same data
    assert resumed["losses"] == pytest.approx(trained["summary"]["losses"], rel=1e-3)
    for key in ("accuracy", "fp", "fn"):
        assert abs(resumed["metrics"][key] - trained["summary"]["metrics"][key]) <= TOLERANCE


def test_lineage_and_retrain_from_the_snapshot(cluster: Path, trained: dict) -> None:
    home = cluster
    recorded = trained["summary"]
    made = json.loads((Path(ok(home, "volume", "path", "lanes").out.strip())
                       / "dataset.json").read_text())
    # The live volume moves on; lineage reads what the snapshot holds.
    live = Path(ok(home, "volume", "path", "lanes").out.strip()) / "model" / "metrics.json"
    live.write_text(json.dumps({"epoch": 99, "metrics": {}, "dataset_version": "changed"}))
    line = ok(home, "lanes", "lineage", "train", "-p", "a", "--json").json()
    assert json.loads(snapshots.read_file("lanes@a-train", "model/metrics.json",
                                          home=str(home))) == recorded
    with pytest.raises(NotFound, match=r"file 'lanes@a-train:model/none\.json' not found"):
        snapshots.read_file("lanes@a-train", "model/none.json", home=str(home))
    assert line["job"] == "a/train" and line["state"] == "Succeeded"
    assert line["snapshot"] == "lanes@a-train" and line["snapshot_files"] > 40
    assert line["dataset_version"] == made["version"] == recorded["dataset_version"]
    assert {k: line["metrics"][k] for k in ("accuracy", "fp", "fn", "epoch")} == \
        {**{k: recorded["metrics"][k] for k in ("accuracy", "fp", "fn")}, "epoch": EPOCHS}

    r = ok(home, "lanes", "retrain", "--from", "lanes@a-train", "--to", "lanes-v2",
           "--epochs", "1", "--threads", "1", "--json").json()
    assert r["volume"] == "lanes-v2" and r["recorded"] == recorded["metrics"]
    assert r["reproduced"] == r["recorded"]  # exactly, every field
    assert r["train"]["resumed_from"] == EPOCHS and r["train"]["epochs"] == EPOCHS + 1
    assert summary(home, "lanes-v2")["epoch"] == EPOCHS + 1
    assert ok(home, "snapshot", "list", "lanes", "--json").json()[0]["name"] == "a-train"
    assert ok(home, "lanes", "lineage", "train", "-p", "a", "--json").json()["clones"] == \
        ["lanes-v2"]


def test_lineage_over_rest_and_the_dashboard_page(cluster: Path, trained: dict) -> None:
    home = cluster
    cli = ok(home, "lanes", "lineage", "train", "-p", "a", "--json").json()
    member = ok(home, "token", "create", "--user", "lo-member", "-p", "lo").out.split()[-1]
    server = start_server(home, env=LOCAL)
    try:
        with server.client() as c:
            r = c.get("/lanes/lineage/train", params={"project": "a"})
            assert r.status_code == 200 and r.json() == cli
        with server.client(member) as c:  # another project's job is as missing as none
            r = c.get("/lanes/lineage/train", params={"project": "a"})
            assert r.status_code == 404 and "a/train" in r.json()["error"]["message"]
        page = httpx.get(f"{server.url}/apps/lanes/")
        assert page.status_code == 200 and 'data-testid="lanes-lineage"' in page.text
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=CHROMIUM_ARGS)
            try:
                _page_shows_the_run(browser, server, cli)
            finally:
                browser.close()
    finally:
        assert server.stop() == 0, "".join(server.lines)


def _page_shows_the_run(browser: Any, server: Server, cli: dict) -> None:
    """Signed in on the dashboard, the app's page shows the run from the REST route."""
    context = browser.new_context()
    try:
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        open_dashboard(pg, server)
        pg.goto(f"{server.url}/apps/lanes/")
        row = pg.get_by_test_id("lineage-a-train")
        expect(row).to_contain_text("lanes@a-train")
        expect(row).to_contain_text(cli["dataset_version"])
        expect(row.get_by_test_id("accuracy")).to_have_text(
            f"{cli['metrics']['accuracy']:.4f}")
        expect(pg.get_by_test_id("lanes-status")).to_have_text("1 training runs")
        assert errors == []
    finally:
        context.close()
