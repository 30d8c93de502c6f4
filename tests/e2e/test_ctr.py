"""``mlfabric ctr`` as typed: data into a volume, the pandas recipe recorded in a
snapshot, the memory guard's one-line refusal, the runs served over REST and on the
app's dashboard page, and the whole report run as a Dask gang job of the scheduler."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.e2e.test_scheduler_local import LOCAL, ok, wait_state
from tests.helpers import run_cli
from tests.server import start_server


def _data(home: Path, rows: int) -> str:
    ok(home, "volume", "create", "clicks")
    ok(home, "volume", "create", "models")
    made = ok(home, "--json", "ctr", "make-data", "d", "--rows", str(rows), "--shard-rows",
              "1000", "--days", "2", "--to-volume", "clicks").json()
    assert made["rows"] == rows and made["snapshot"].startswith("clicks@")
    assert 0.5 < made["bayes_auc"] < 1
    return made["path"]


def test_train_refuse_and_list_runs_over_cli_rest_and_the_page(home: Path) -> None:
    data = _data(home, 3000)
    r = ok(home, "--json", "ctr", "train", data, "--out", "models", "--run", "r1").json()
    assert (r["engine"], r["rows"], r["snapshot"]) == ("pandas", 3000, "models@r1")
    text = ok(home, "ctr", "train", data, "--rows", "2000").out
    assert "pandas rf on 1,600 rows, scored on 400: accuracy" in text and "AUC" in text
    boosted = ok(home, "--json", "ctr", "train", data, "--rows", "2000", "--model",
                 "xgboost").json()
    assert (boosted["categorical"], boosted["test_rows"]) == ("target", 400)
    assert boosted["auc"] > 0.6 and boosted["bayes_auc"] == r["bayes_auc"]

    refused = run_cli(home, "ctr", "train", data, "--memory", "4MiB", "--out", "models",
                      "--run", "r2")
    assert refused.code == 1 and refused.out == ""
    assert refused.err.startswith("error: the pandas engine needs about ")
    assert refused.err.endswith("more than its memory budget of 4.0 MiB: read fewer rows "
                                "(--rows) or train with --engine dask\n")
    assert refused.err.count("\n") == 1
    vol = Path(ok(home, "volume", "path", "models").out.strip())
    assert sorted(p.name for p in (vol / "runs").iterdir()) == ["r1"]  # nothing written
    assert [s["name"] for s in ok(home, "snapshot", "list", "models", "--json").json()] \
        == ["r1"]
    listed = ok(home, "--json", "ctr", "runs", "models").json()
    assert [x["run"] for x in listed] == ["r1"] and listed[0]["auc"] == r["auc"]

    server = start_server(home)
    try:
        headers = {"Authorization": f"Bearer {server.token}"}
        got = httpx.get(f"{server.url}/api/v1/ctr/runs/models", headers=headers)
        assert got.status_code == 200 and got.json() == listed
        assert httpx.get(f"{server.url}/api/v1/ctr/runs/nope",
                         headers=headers).status_code == 404
        assert httpx.get(f"{server.url}/api/v1/ctr/runs/models").status_code == 401
        apps = {a["name"]: a for a in httpx.get(f"{server.url}/api/v1/apps",
                                                headers=headers).json()}
        assert apps["ctr"]["page"] == "/apps/ctr/"
        assert apps["ctr"]["routes"] == ["GET /api/v1/ctr/runs/{volume}"]
        page = httpx.get(f"{server.url}/apps/ctr/")
        assert page.status_code == 200 and 'data-testid="runs"' in page.text
        assert "/dashboard/appkit.js" in page.text and "/api/v1/ctr/runs/" in page.text
    finally:
        assert server.stop() == 0, "".join(server.lines)


def test_the_report_runs_as_a_dask_gang_job_and_its_volume_is_snapshotted(
        local_home: Path) -> None:
    home = local_home
    ok(home, "node", "add", "n1", "--gpus", "1")
    ok(home, "project", "create", "a", "--quota", "1")
    data = _data(home, 2000)
    out = Path(ok(home, "volume", "path", "models").out.strip()) / "report"
    sub = ok(home, "--json", "ctr", "report", data, "--rows", "2000", "--model", "rf",
             "--out", str(out), "--submit", "a", "--processes", "3").json()
    assert (sub["name"], sub["engine"], sub["processes"]) == ("ctr-report", "dask", 3)
    done = wait_state(home, "ctr-report", "a", "Succeeded", timeout=120)
    assert done["exit_code"] == 0 and done["snapshot"] == "models@a-ctr-report"
    report = json.loads((out / "report.json").read_text())
    assert report["largest"] == {"pandas": 2000, "dask": 2000}
    runs = {x["engine"]: x for x in report["runs"]}
    assert set(runs) == {"pandas", "dask"} and runs["pandas"]["rows"] == 2000
    gang = runs["dask"]
    assert gang["workers"] == 2 and gang["scheduler"].startswith("tcp://127.0.0.1:")
    assert gang["data_version"].startswith("clicks@")  # found at submit, recorded inside
    assert (out / "time-vs-rows.png").read_bytes()[:4] == b"\x89PNG"
    log = ok(home, "job", "logs", "ctr-report", "-p", "a").out
    assert "dashboard: http://127.0.0.1:" in log
    assert run_cli(home, "job", "get", "ctr-report", "-p", "a", env=LOCAL).code == 0
