"""``mlfabric edgebench`` as a user types it: make the models and an image set, run a
LoadGen scenario, list the results; one-line errors for bad requests before LoadGen
starts; the results served by the platform server as a REST row and the app's page."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.helpers import Result, run_cli
from tests.server import start_server


def ok(home: Path, *args: str) -> Result:
    r = run_cli(home, *args)
    assert r.code == 0, f"{args}: {r.err}"
    return r


def fails(home: Path, *args: str) -> str:
    r = run_cli(home, *args)
    assert r.code == 1, f"{args} should fail: {r.out}"
    assert "Traceback" not in r.err
    [line] = r.err.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_edgebench_from_the_command_line_and_the_server(home: Path) -> None:
    for v in ("edgebench-models", "imgs"):
        ok(home, "volume", "create", v)
    made = ok(home, "--json", "edgebench", "make-models", "edgebench-models", "-m", "resnet",
              "--size", "32", "--train-steps", "0").json()
    assert [m["name"] for m in made] == ["resnet"] and made[0]["size"] == 32
    assert ok(home, "--json", "edgebench", "make-data", "imgs", "--images", "16", "--size",
              "48").json()["count"] == 16

    # bad requests: one line, exit 1, no run started
    assert "takes 3x32x32 inputs but data set 'imgs' holds 3x48x48" in fails(
        home, "edgebench", "run", "-s", "offline", "-m", "resnet", "-d", "imgs")
    assert "volume 'nosuch'" in fails(home, "edgebench", "run", "-s", "offline", "-m",
                                      "resnet", "-d", "nosuch")
    assert "inference server 'down'" in fails(home, "edgebench", "run", "-s", "offline", "-m",
                                              "resnet", "-d", "imgs", "--target",
                                              "inference:down")
    assert "remote 'nosuch'" in fails(home, "edgebench", "compare-storage", "-m", "resnet",
                                      "-d", "imgs", "--lake", "nosuch")
    assert ok(home, "--json", "edgebench", "results").json() == []

    ok(home, "edgebench", "make-data", "imgs", "--images", "16", "--size", "32", "--force")
    run = ok(home, "--json", "edgebench", "run", "-s", "singlestream", "-m", "resnet", "-d",
             "imgs", "--min-duration-ms", "200").json()
    assert run["result"] == "VALID" and run["valid"] is True
    table = ok(home, "edgebench", "results").out
    assert run["id"] in table and "VALID" in table and "singlestream" in table

    server = start_server(home)
    try:
        headers = {"Authorization": f"Bearer {server.token}"}
        rows = httpx.get(f"{server.api}/edgebench/results", headers=headers).json()
        assert [r["id"] for r in rows] == [run["id"]] and rows[0]["result"] == "VALID"
        assert httpx.get(f"{server.api}/edgebench/results",
                         params={"scenario": "offline"}, headers=headers).json() == []
        apps = {a["name"]: a for a in httpx.get(f"{server.api}/apps", headers=headers).json()}
        assert apps["edgebench"]["page"] == "/apps/edgebench/"
        assert apps["edgebench"]["routes"] == ["GET /api/v1/edgebench/results"]
        page = httpx.get(f"{server.url}/apps/edgebench/")
        assert page.status_code == 200 and "/api/v1/edgebench/results" in page.text
        assert httpx.get(f"{server.api}/edgebench/results").status_code == 401
    finally:
        assert server.stop() == 0, "".join(server.lines)
