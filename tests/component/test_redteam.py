"""The red team: a member of project b, with its token and everything the REST API offers,
tries to read or change project a's data through a job, ``job exec``, a workspace
terminal, a Python-backend model and every body field that can name a volume, to listen
on every address and to preempt with no grace. Every attempt is refused, and a's data is
byte for byte what it was. Real server, real sandbox (bubblewrap, as root like CI)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlfabric.testing.trees import tree_digest
from tests.helpers import require_root
from tests.server import Server, start_server

SECRET = "a's secret: 4242-TOP"
LOCAL = {"MLFABRIC_RUNTIME": "local"}
SPY_CONFIG = """\
name: "spy"
backend: "python"
max_batch_size: 8
input [ { name: "X" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 1 ] } ]
"""
SPY_SOURCE = """\
import numpy as np

TARGETS = {targets!r}


def infer(X):
    seen = 0.0
    for path in TARGETS:
        try:
            open(path, "rb").read(1)
            seen += 1.0
        except OSError:
            pass
    return {{"Y": np.full(X.shape, seen, dtype=np.float32)}}
"""


def ok(resp: httpx.Response) -> Any:
    assert resp.status_code == 200, resp.text
    return resp.json()


def refused(resp: httpx.Response, status: int, words: str) -> None:
    assert resp.status_code == status, resp.text
    assert words in resp.json()["error"]["message"], resp.text


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, Path]]:
    require_root("members' jobs run confined as their projects' uids")
    home = tmp_path_factory.mktemp("redteam") / "home"
    home.mkdir()
    server = start_server(home, env=LOCAL)
    try:
        with server.client() as admin:
            ok(admin.post("/nodes", json={"name": "n1", "gpus": 4, "runtime": "local"}))
            for p in ("a", "b"):
                ok(admin.post("/projects", json={"name": p, "quota": 2}))
            vol = ok(admin.post("/volumes", json={"name": "a-data", "labels": ["project=a"]}))
            (Path(vol["path"]) / "secret.txt").write_text(SECRET)
            ok(admin.post("/volumes/a-data/snapshots", json={"name": "s1"}))
            bob = ok(admin.post("/tokens", json={"user": "bob", "projects": ["b"]}))
        yield server, bob["secret"], Path(vol["path"])
    finally:
        with server.client() as admin:
            for j in ok(admin.get("/jobs")):
                admin.delete("/jobs", params={"names": [j["name"]], "project": j["project"]})
        assert server.stop() == 0


def _wait_job(client: httpx.Client, name: str, states: tuple[str, ...]) -> dict:
    deadline = time.monotonic() + 90
    while (job := ok(client.get(f"/jobs/{name}", params={"project": "b"})))["state"] \
            not in states:
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


def test_a_job_reads_nothing_of_a_and_writes_nothing_of_the_platform(
        cluster: tuple[Server, str, Path]) -> None:
    server, bob, a_data = cluster
    home = server.home
    before = tree_digest(a_data)
    probe = f"""
import json, os
def tries(fn):
    try:
        return repr(fn())[:80]
    except OSError as exc:
        return type(exc).__name__
print(json.dumps({{
    "a_file": tries(lambda: open({str(a_data / 'secret.txt')!r}).read()),
    "a_volume": tries(lambda: os.listdir({str(a_data)!r})),
    "catalog": os.path.exists({str(Path(home) / 'catalog.db')!r}),
    "catalog_write": tries(lambda: open({str(Path(home) / 'catalog.db')!r}, "ab").write(b"x")),
    "objects": tries(lambda: os.listdir({str(Path(home) / 'objects')!r})),
    "home": tries(lambda: os.listdir({str(home)!r})),
    "shadow": tries(lambda: open("/etc/shadow").read()),
}}))
"""
    with server.client(bob) as client:
        ok(client.post("/jobs", json={"name": "thief", "project": "b", "gpus": "1",
                                      "command": [sys.executable, "-c", probe]}))
        assert _wait_job(client, "thief", ("Succeeded", "Failed"))["state"] == "Succeeded"
        log = ok(client.get("/jobs/thief/logs", params={"project": "b"}))
    seen = json.loads(log.strip().splitlines()[-1])
    # the home is an empty hull holding only the path to the job's own folder, which the
    # job cannot add to: no catalog, objects, volumes or tokens there
    assert seen == {"a_file": "FileNotFoundError", "a_volume": "FileNotFoundError",
                    "catalog": False, "catalog_write": "PermissionError",
                    "objects": "FileNotFoundError", "home": "['jobs']",
                    "shadow": "FileNotFoundError"}, seen
    assert SECRET not in log
    assert tree_digest(a_data) == before


def test_exec_stays_in_the_jobs_sandbox(cluster: tuple[Server, str, Path]) -> None:
    server, bob, a_data = cluster
    with server.client(bob) as client:
        ok(client.post("/jobs", json={"name": "sleeper", "project": "b", "gpus": "1",
                                      "command": [sys.executable, "-c",
                                                  "import time; time.sleep(120)"]}))
        _wait_job(client, "sleeper", ("Running",))
        ran = ok(client.post("/jobs/sleeper/exec", json={
            "project": "b", "command": ["sh", "-c", f"cat {a_data}/secret.txt; "
                                        f"ls {server.home}; cat /etc/shadow; id -u"]}))
    assert SECRET not in ran["output"] and "No such file" in ran["output"]
    assert ran["output"].strip().splitlines()[-1] != "0"  # not root
    assert ran["exit_code"] == 0  # id -u ran: exec works, inside


def test_a_python_backend_model_sees_nothing_of_a(cluster: tuple[Server, str, Path]) -> None:
    server, bob, a_data = cluster
    with server.client(bob) as client:
        repo = ok(client.post("/volumes", json={"name": "b-models"}))
        model = Path(repo["path"]) / "spy"
        (model / "1").mkdir(parents=True)
        (model / "config.pbtxt").write_text(SPY_CONFIG)
        targets = [str(a_data / "secret.txt"), str(Path(server.home) / "catalog.db"),
                   "/etc/shadow"]
        (model / "1" / "model.py").write_text(SPY_SOURCE.format(targets=targets))
        srv = ok(client.post("/inference", json={"name": "b-srv", "project": "b",
                                                 "model_repo": "b-models", "gpus": 0.5}))
        assert srv["ready"], srv
        url = srv["http_url"]
        try:
            body = {"inputs": [{"name": "X", "shape": [1, 1], "datatype": "FP32",
                                "data": [1.0]}]}
            out = httpx.post(f"{url}/v2/models/spy/infer", json=body, timeout=30).json()
            assert out["outputs"][0]["data"] == [0.0], out  # it could open none of them
        finally:
            ok(client.delete("/inference/b-srv"))


def test_every_body_field_that_names_a_volume_is_refused(
        cluster: tuple[Server, str, Path]) -> None:
    server, bob, a_data = cluster
    before = tree_digest(a_data)
    with server.client(bob) as client:
        for resp in (
                client.post("/jobs", json={"name": "m1", "project": "b", "gpus": "1",
                                           "volumes": ["a-data:data"]}),
                client.post("/jobs", json={"name": "m2", "project": "b", "gpus": "1",
                                           "snapshot_on_complete": "a-data"}),
                client.post("/workspaces", json={"name": "w1", "project": "b",
                                                 "volumes": ["a-data:/data"]}),
                client.post("/inference", json={"name": "i1", "project": "b",
                                                "model_repo": "a-data"}),
                client.post("/volumes/mine/clone", json={"source": "a-data@s1"}),
                client.post("/snapshots/a-data@s1/restore", json={}),
                client.post("/volumes/a-data/snapshots", json={"name": "x"}),
                client.get("/diff", params={"old": "a-data@s1", "new": "a-data"}),
                client.delete("/volumes/a-data", params={"force": True})):
            refused(resp, 404, "volume 'a-data' not found")
        # listen everywhere, preempt with no grace: an admin's settings
        refused(client.post("/workspaces", json={"name": "w2", "project": "b",
                                                 "host": "0.0.0.0"}), 403, "may set host")
        refused(client.post("/inference", json={"name": "i2", "project": "b",
                                                "model_repo": "b-models", "host": "0.0.0.0"}),
                403, "may set host")
        refused(client.post("/scheduler/step", json={"grace_s": 0}), 403, "may set grace_s")
    with server.client() as admin:
        assert [s["name"] for s in ok(admin.get("/volumes/a-data/snapshots"))] == ["s1"]
        assert not [j for j in ok(admin.get("/jobs")) if j["name"] in ("m1", "m2")]
    assert tree_digest(a_data) == before


def _terminal(url: str, password: str, command: str, until: str, timeout: float = 60) -> str:
    """What a JupyterLab terminal prints for ``command`` (through its websocket, as the
    browser's terminal would), up to ``until``."""
    import websocket

    base = url.rsplit("/lab", 1)[0]
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, timeout=30) as http:
        while True:
            try:
                http.get("/login")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "JupyterLab never answered"
                time.sleep(0.2)
        xsrf = http.cookies.get("_xsrf") or ""
        http.post("/login", data={"password": password, "_xsrf": xsrf})
        made = http.post("/api/terminals", headers={"X-XSRFToken": xsrf})
        assert made.status_code == 200, made.text
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        ws = websocket.create_connection(
            base.replace("http", "ws", 1) + f"/terminals/websocket/{made.json()['name']}",
            header=[f"Cookie: {cookie}"], timeout=10)
    try:
        ws.send(json.dumps(["stdin", command + "\r"]))
        out = ""
        while until not in out:
            assert time.monotonic() < deadline, out
            kind, *data = json.loads(ws.recv())
            if kind == "stdout":
                out += data[0]
        return out
    finally:
        ws.close()


def test_a_workspace_terminal_sees_nothing_of_a(cluster: tuple[Server, str, Path]) -> None:
    server, bob, a_data = cluster
    with server.client(bob) as client:
        ws = ok(client.post("/workspaces", json={"name": "ws-b", "project": "b",
                                                 "password": "bobs-password"}))
        try:
            out = _terminal(ws["url"], "bobs-password",
                            f"cat {a_data}/secret.txt; ls {server.home}/volumes; id -u; "
                            "echo END-$((40+2))", until="END-42")
        finally:
            ok(client.delete("/workspaces/ws-b"))
    assert SECRET not in out and "secret.txt: No such file or directory" in out
    lines = [line.strip() for line in out.splitlines()]
    uid = next(i for i, line in enumerate(lines) if line.isdigit())
    assert lines[uid - 1] == "ws-b"  # of all the volumes, its own only
    assert int(lines[uid]) >= 200_000  # its project's uid, not root
