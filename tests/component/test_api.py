"""The REST API against a live ``mlfabric server start`` on loopback: every resource,
validation errors, token isolation between projects, and state kept across a restart."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlfabric.api.operations import operations
from tests.server import SIM, Server, demo_server, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with demo_server(tmp_path_factory.mktemp("api") / "home") as s:
        yield s


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def ok(resp: httpx.Response, status: int = 200) -> object:
    assert resp.status_code == status, resp.text
    return resp.json()


def error(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert body["message"] and body["type"]
    return body


def test_openapi_lists_every_operation(server: Server, admin: httpx.Client) -> None:
    spec = httpx.get(server.url + "/openapi.json").json()
    served = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    for op in operations().values():
        assert (op.method, "/api/v1" + op.path) in served, op.key
    assert httpx.get(server.url + "/docs").status_code == 200


def test_volumes_and_snapshots(server: Server, admin: httpx.Client) -> None:
    v = ok(admin.post("/volumes", json={"name": "api-vol", "size": "1Gi",
                                        "labels": ["project=team-a"]}))
    assert v["labels"] == {"project": "team-a"} and v["size_limit"] == 2**30
    root = Path(ok(admin.get("/volumes/api-vol/path")))
    (root / "a.txt").write_text("one")
    s1 = ok(admin.post("/volumes/api-vol/snapshots", json={"name": "s1"}))
    assert s1["ref"] == "api-vol@s1" and s1["files"] == 1
    (root / "a.txt").write_text("two")
    (root / "b.txt").write_text("new")
    ok(admin.post("/volumes/api-vol/snapshots", json={"name": "s2"}))
    d = ok(admin.get("/diff", params={"old": "api-vol@s1", "new": "api-vol@s2"}))
    assert d["added"] == ["b.txt"] and d["modified"] == ["a.txt"]
    names = [s["name"] for s in ok(admin.get("/volumes/api-vol/snapshots"))]
    assert names == ["s1", "s2"]
    assert ok(admin.get("/snapshots/api-vol@s1"))["name"] == "s1"
    r = ok(admin.post("/snapshots/api-vol@s1/restore", json={}))
    assert r["safety_snapshot"] and (root / "a.txt").read_text() == "one"
    c = ok(admin.post("/volumes/api-clone/clone", json={"source": "api-vol@s2"}))
    assert (Path(c["path"]) / "b.txt").read_text() == "new"
    assert ok(admin.get("/volumes/api-vol/usage"))["snapshots"] == 3
    assert {x["name"] for x in ok(admin.get("/volumes"))} >= {"api-vol", "api-clone"}
    ok(admin.delete("/snapshots/api-vol@s1"))
    ok(admin.delete("/volumes/api-clone"))
    assert ok(admin.post("/store/verify", json={"volume": "api-vol"}))["ok"] is True
    assert ok(admin.post("/store/gc", json={"dry_run": True}))["dry_run"] is True
    error(admin.get("/volumes/nope"), 404)
    error(admin.post("/volumes", json={"name": "api-vol"}), 409)
    error(admin.post("/volumes", json={"name": "Bad_Name"}), 400)


def test_datasets_caches_and_transfers(server: Server, admin: httpx.Client,
                                       tmp_path: Path) -> None:
    remotes = ok(admin.get("/remotes"))
    assert [r["name"] for r in remotes] == ["demo-lake"]
    sets = ok(admin.get("/datasets"))
    assert [d["name"] for d in sets] == ["demo-set"]
    versions = ok(admin.get("/datasets/demo-set/versions"))
    ref = f"demo-set:{versions[0]['version']}"
    assert ok(admin.get(f"/dataset-versions/{ref}"))["files"] == 40
    entry = ok(admin.post("/caches", json={"ref": ref}))
    assert Path(entry["path"]).is_dir()
    assert [e["dataset"] for e in ok(admin.get("/caches"))] == ["demo-set"]
    assert ok(admin.get("/caches/stats"))[0]["entries"] == 1
    assert ok(admin.get("/cache-pools"))[0]["name"] == "default"
    pulled = ok(admin.post(f"/dataset-versions/{ref}/pull", json={"into": "pulled"}))
    assert pulled["files"] == 40
    src = tmp_path / "src"
    src.mkdir()
    (src / "x.bin").write_bytes(b"x" * 100)
    scan = ok(admin.post("/transfers/scan", json={"src": str(src)}))
    assert scan["files"] == 1 and scan["bytes"] == 100
    copied = ok(admin.post("/transfers/copy", json={"src": str(src), "dst": str(tmp_path / "d")}))
    assert copied["copied"] == 1 and (tmp_path / "d" / "x.bin").exists()


def test_nodes_projects_jobs(server: Server, admin: httpx.Client) -> None:
    nodes = ok(admin.get("/nodes"))
    assert {n["name"]: n["runtime"] for n in nodes} == {
        "local": "local", "node-1": "sim", "node-2": "sim"}  # the demo's
    assert sum(n["gpus"] for n in nodes if n["runtime"] == "sim") == 16
    ok(admin.post("/nodes", json={"name": "node-3", "gpus": 2, "runtime": "sim"}))
    assert ok(admin.get("/nodes/node-3"))["gpus"] == 2
    ok(admin.post("/projects", json={"name": "team-c", "quota": 1}))
    assert ok(admin.patch("/projects/team-c", json={"quota": 2}))["quota"] == 2
    job = ok(admin.post("/jobs", json={"name": "api-job", "project": "team-c", "gpus": "1",
                                       "command": ["echo", "hi"]}))
    assert job["state"] == "Running" and job["ref"] == "team-c/api-job"
    assert ok(admin.get("/jobs/api-job", params={"project": "team-c"}))["gpus"] == 1
    listed = ok(admin.get("/jobs", params={"project": "team-c"}))
    assert [j["name"] for j in listed] == ["api-job"]
    kinds = [e["kind"] for e in ok(admin.get("/jobs/api-job/events"))]
    assert kinds[:2] == ["submitted", "started"]
    no_logs = error(admin.get("/jobs/api-job/logs"), 400)  # on a sim node: no process
    assert no_logs["message"] == ("job 'team-c/api-job' runs on the sim runtime, which "
                                  "starts no processes: it has no logs")
    assert "running" in ok(admin.post("/scheduler/step", json={}))
    pending = [j for j in ok(admin.get("/jobs")) if j["state"] == "Pending"]
    assert pending and all(j["reason"] for j in pending)
    gone = ok(admin.delete("/jobs", params={"names": ["api-job"], "project": "team-c"}))
    assert [j["name"] for j in gone] == ["api-job"]
    ok(admin.delete("/projects/team-c"))
    ok(admin.delete("/nodes/node-3"))
    error(admin.get("/jobs/nope"), 404)


def test_validation_errors_are_422_with_a_message(server: Server, admin: httpx.Client) -> None:
    bad_json = admin.post("/volumes", content=b'{"name": ',
                          headers={"content-type": "application/json"})
    assert "JSON" in error(bad_json, 422)["message"]
    unknown = error(admin.post("/volumes", json={"name": "x", "colour": "red"}), 422)
    assert "colour" in unknown["message"]
    wrong = error(admin.post("/projects", json={"name": "p", "quota": "lots"}), 422)
    assert "quota" in wrong["message"]
    assert "name" in error(admin.post("/volumes", json={}), 422)["message"]
    assert "x" not in {v["name"] for v in ok(admin.get("/volumes"))}


def _placeholder_path(path: str) -> str:
    """``path`` with every ``{param}`` filled with a value no resource has."""
    return re.sub(r"{\w+}", "no-such-thing", path)


JSON = {"content-type": "application/json"}
BAD_BODIES = {
    "no body": {},
    "not JSON": {"content": b"{'name': ", "headers": JSON},
    "an array": {"json": [1, 2]},
    "a string": {"json": "name"},
    "not UTF-8": {"content": b"\xff\xfe\xfa", "headers": JSON},
    "NaN": {"content": b'{"name": NaN}', "headers": JSON},
    "a form": {"content": b"name=x",
               "headers": {"content-type": "application/x-www-form-urlencoded"}},
    "nested too deep": {"content": b"[" * 100_000, "headers": JSON},
}


def test_bad_bodies_are_422_on_every_operation(server: Server, admin: httpx.Client) -> None:
    """Malformed bodies are refused before any operation runs, in the usual error format,
    without pydantic's words; no body is no arguments (a 422 where some are required)."""
    spec = httpx.get(server.url + "/openapi.json").json()
    for op in operations().values():
        if op.in_query:
            continue
        path = _placeholder_path(op.path)
        required = spec["paths"]["/api/v1" + op.path][op.method.lower()]["requestBody"]["required"]
        for kind, kwargs in BAD_BODIES.items():
            if kind == "no body" and not required:
                continue  # runs the operation with its defaults
            resp = admin.request(op.method, path, **kwargs)
            body = error(resp, 422)
            assert body["type"] == "ValidationError", (op.key, kind, body)
            assert "pydantic" not in resp.text and "Traceback" not in resp.text, resp.text
    assert "JSON object" in error(admin.post("/projects", json=[1]), 422)["message"]
    assert "NaN" in error(admin.post("/projects", **BAD_BODIES["NaN"]), 422)["message"]
    missing = error(admin.post("/projects"), 422)["message"]
    assert "body.name" in missing and "body.quota" in missing
    wrong = error(admin.post("/nodes", json={"name": 3, "gpus": [1]}), 422)["message"]
    assert "body.name" in wrong and "body.gpus" in wrong and "type=" not in wrong


def test_refusals_come_before_the_arguments_are_read(server: Server,
                                                     admin: httpx.Client) -> None:
    """No token: 401; a member on an admin's operation: 403, whatever it sends."""
    member = ok(admin.post("/tokens", json={"user": "erin", "projects": ["team-b"]}))
    admin_only = [op for op in operations().values() if op.access.admins_only]
    assert len(admin_only) > 20
    with server.client(member["secret"]) as erin, httpx.Client(base_url=server.api) as anon:
        for op in admin_only:
            path = _placeholder_path(op.path)
            if op.in_query:
                tries = [{"params": {"force": "not-a-bool", "include_revoked": "maybe"}}, {}]
            else:
                tries = list(BAD_BODIES.values())
            for kwargs in tries:
                assert error(erin.request(op.method, path, **kwargs), 403)["type"] == \
                    "AccessDenied", op.key
                assert error(anon.request(op.method, path, **kwargs), 401)["type"] == \
                    "AccessDenied", op.key
        # a rule that looks at the arguments reads them first: a bad body is a 422 there
        error(erin.post("/jobs", json=[1]), 422)
        error(erin.post("/volumes/demo-data/snapshots", content=b"{"), 422)


def test_out_of_range_numbers_are_400_and_store_nothing(server: Server, admin: httpx.Client,
                                                       tmp_path: Path) -> None:
    """Numbers past what the catalog's 64-bit integers, the scheduler's sums or a clock
    hold were 500s, and a project with such a quota broke every later cycle."""
    big = 2**70
    for method, path, body, field in (
            ("POST", "/nodes", {"name": "n-big", "gpus": big}, "gpus"),
            ("POST", "/nodes", {"name": "n-big", "gpus": 1, "gpu_memory": big}, "size"),
            ("POST", "/volumes", {"name": "v-big", "size": big}, "size"),
            ("POST", "/workspaces", {"name": "w-big", "project": "team-a", "size": big},
             "size"),
            ("PUT", "/cache-pools/big", {"path": str(tmp_path / "pool"), "size": big}, "size"),
            ("POST", "/projects", {"name": "p-big", "quota": 1e300}, "quota"),
            ("POST", "/projects", {"name": "p-big", "quota": 1, "weight": 1e300}, "weight"),
            ("POST", "/projects", {"name": "p-big", "quota": 1,
                                   "interactive_time_limit": "9999999999999999999d"},
             "interactive_time_limit"),
            ("PATCH", "/projects/team-a", {"quota": 1e300}, "quota"),
            ("POST", "/jobs/resnet-a1/exec", {"project": "team-a", "command": ["true"],
                                              "timeout": 2**53 + 1}, "timeout")):
        assert error(admin.request(method, path, json=body), 400)["field"] == field, path
    # an amount that is not finite: refused, and the error itself still JSON
    inf = error(admin.post("/jobs", json={"name": "j-inf", "project": "team-a",
                                          "gpus": "1e400"}), 400)
    assert inf["field"] == "gpus" and inf["value"] == "inf"
    assert error(admin.post("/inference", json={"name": "i-nan", "project": "team-a",
                                                "model_repo": "demo-data", "gpus": "nan",
                                                "wait_s": 0}), 400)["value"] == "nan"
    assert error(admin.post("/projects", content=b'{"name": "p", "quota": 1e400}',
                            headers=JSON), 422)["type"] == "ValidationError"
    assert error(admin.delete(f"/tokens/{big}"), 404)["type"] == "NotFound"
    names = {p["name"] for p in ok(admin.get("/projects"))}
    assert "p-big" not in names and ok(admin.get("/projects/team-a"))["quota"] == 4
    assert ok(admin.post("/scheduler/step", json={}))["running"] >= 1


def test_nul_characters_are_422_wherever_they_are(server: Server, admin: httpx.Client,
                                                 tmp_path: Path) -> None:
    """``os`` and ``subprocess`` raise ValueError on a NUL: a command, a pool's folder, a
    job's variables were 500s (and a stored job spec one every cycle on a real runtime)."""
    for method, path, kwargs, where in (
            ("POST", "/jobs/resnet-a1/exec", {"json": {"project": "team-a",
                                                       "command": ["true\0"]}}, "body.command"),
            ("PUT", "/cache-pools/nul", {"json": {"path": str(tmp_path / "a\0b")}}, "body.path"),
            ("POST", "/jobs", {"json": {"name": "j-nul", "project": "team-a",
                                        "env": {"A": "\0"}}}, "body.env"),
            ("POST", "/remotes", {"json": {"name": "r-nul", "url": f"{tmp_path}/\0"}},
             "body.url"),
            ("GET", "/volumes/demo%00data", {}, "path.name"),
            ("GET", "/jobs", {"params": {"project": "team\0a"}}, "query.project")):
        message = error(admin.request(method, path, **kwargs), 422)["message"]
        assert message == f"{where}: contains a NUL character", (path, message)
    assert "r-nul" not in {r["name"] for r in ok(admin.get("/remotes"))}


def test_tokens_and_isolation_matrix(server: Server, admin: httpx.Client) -> None:
    a = ok(admin.post("/tokens", json={"user": "alice", "projects": ["team-a"]}))
    b = ok(admin.post("/tokens", json={"user": "bob", "role": "member",
                                       "projects": ["team-b"]}))
    assert a["secret"].startswith("mlf_") and a["role"] == "member"
    listed = ok(admin.get("/tokens"))
    assert {t["user"] for t in listed} >= {"admin", "alice", "bob"}
    assert all(t["secret"] is None for t in listed)  # never shown again
    ok(admin.post("/jobs", json={"name": "b-secret", "project": "team-b", "gpus": "1",
                                 "command": ["true"]}))
    with server.client(a["secret"]) as alice, server.client(b["secret"]) as bob:
        # alice sees team-a only
        assert {j["project"] for j in ok(alice.get("/jobs"))} == {"team-a"}
        assert {j["project"] for j in ok(bob.get("/jobs"))} == {"team-b"}
        for resp in (alice.get("/jobs", params={"project": "team-b"}),
                     alice.get("/jobs/b-secret", params={"project": "team-b"}),
                     alice.get("/jobs/b-secret/logs", params={"project": "team-b"}),
                     alice.get("/jobs/b-secret/logs/stream", params={"project": "team-b"}),
                     alice.post("/jobs/b-secret/exec", json={"project": "team-b",
                                                             "command": ["id"]}),
                     alice.delete("/jobs", params={"names": ["b-secret"], "project": "team-b"}),
                     alice.post("/jobs", json={"name": "x", "project": "team-b", "gpus": "1"})):
            assert resp.status_code in (403, 404), resp.text
        assert ok(admin.get("/jobs/b-secret", params={"project": "team-b"}))["state"]
        # volumes by their project label: demo-data belongs to team-a
        assert [v["name"] for v in ok(bob.get("/volumes"))] == []
        # another project's volume is "not found", word for word as a missing one
        missing = error(bob.get("/volumes/no-such-volume"), 404)["message"]
        for resp in (bob.post("/snapshots/demo-data@baseline/restore", json={}),
                     bob.get("/volumes/demo-data"),
                     bob.post("/volumes/demo-data/snapshots", json={}),
                     bob.post("/volumes/bobs/clone", json={"source": "demo-data@baseline"}),
                     bob.delete("/volumes/demo-data", params={"force": True})):
            assert error(resp, 404)["message"] == missing.replace("no-such-volume",
                                                                   "demo-data")
        assert ok(alice.post("/snapshots/demo-data@relabelled/restore", json={}))["written"] >= 0
        mine = ok(bob.post("/volumes", json={"name": "bob-vol"}))
        assert mine["labels"] == {"project": "team-b"}  # labelled for its one project
        error(bob.post("/volumes", json={"name": "x2", "labels": ["project=team-a"]}), 403)
        # members may not administer
        for resp in (bob.post("/projects", json={"name": "p", "quota": 1}),
                     bob.post("/nodes", json={"name": "n", "gpus": 1}),
                     bob.get("/tokens"), bob.post("/store/gc", json={})):
            error(resp, 403)
        assert ok(admin.post("/snapshots/demo-data@baseline/restore", json={}))
        # revoked: 401 from then on
        ok(admin.delete(f"/tokens/{b['id']}"))
        assert error(bob.get("/jobs"), 401)["type"] == "AccessDenied"
    error(httpx.get(server.api + "/jobs"), 401)
    with server.client("mlf_not-a-token") as nobody:
        error(nobody.get("/volumes"), 401)


def test_log_stream_follows_until_the_job_ends(server: Server, admin: httpx.Client) -> None:
    # A real process (a node of the local runtime in a pool of its own): a sim job has
    # no log to stream, and the server says so.
    ok(admin.post("/nodes", json={"name": "live", "gpus": 1, "runtime": "local",
                                  "pool": "live"}))
    ok(admin.post("/projects", json={"name": "streams", "quota": 1, "pool": "live"}))
    script = "import time\nfor i in range(3):\n print('tick', i, flush=True)\n time.sleep(0.5)\n"
    ok(admin.post("/jobs", json={"name": "short", "project": "streams", "gpus": "0.1",
                                 "command": [sys.executable, "-c", script]}))
    start = time.monotonic()
    with admin.stream("GET", "/jobs/short/logs/stream", params={"project": "streams"}) as r:
        assert r.status_code == 200
        body = r.read()
    assert body == b"tick 0\ntick 1\ntick 2\n" and 1 < time.monotonic() - start < 30
    assert ok(admin.get("/jobs/short", params={"project": "streams"}))["state"] == "Succeeded"
    ok(admin.post("/jobs", json={"name": "sim-short", "project": "team-a", "gpus": "0.1",
                                 "sim_duration": "2s", "interactive": True}))
    refused = admin.get("/jobs/sim-short/logs/stream", params={"project": "team-a"})
    assert "starts no processes" in error(refused, 400)["message"]


def test_restart_keeps_all_state(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    first = start_server(home, demo=True, env=SIM)
    with first.client() as c:
        # the demo's one real job ends on its own: let it, so its state cannot move between
        # the two starts
        deadline = time.monotonic() + 60
        while ok(c.get("/jobs/steps", params={"project": "demo"}))["state"] in ("Pending",
                                                                               "Running"):
            assert time.monotonic() < deadline, "the demo's job never ended"
            time.sleep(0.2)
        before = {k: ok(c.get(p)) for k, p in (("volumes", "/volumes"), ("jobs", "/jobs"),
                                               ("projects", "/projects"), ("nodes", "/nodes"))}
        ok(c.post("/volumes/demo-data/snapshots", json={"name": "third"}))
    assert first.stop() == 0
    second = start_server(home, demo=True, env=SIM)  # demo seeds only once
    try:
        assert second.token is None  # the admin token was shown once, at the first start
        with second.client(first.token) as c:
            assert [s["name"] for s in ok(c.get("/volumes/demo-data/snapshots"))] == \
                ["baseline", "relabelled", "third"]
            for key, path in (("volumes", "/volumes"), ("projects", "/projects"),
                              ("nodes", "/nodes")):
                now = ok(c.get(path))
                assert [x["name"] for x in now] == [x["name"] for x in before[key]]
            jobs = {j["ref"]: j["state"] for j in ok(c.get("/jobs"))}
            assert jobs == {j["ref"]: j["state"] for j in before["jobs"]}
    finally:
        assert second.stop() == 0


def test_workspaces_and_their_isolation(server: Server, admin: httpx.Client) -> None:
    """On the sim runtime a workspace's job runs without a JupyterLab process: enough
    for the API and its access rules (tests/e2e/test_workspaces.py runs a real one)."""
    carol = ok(admin.post("/tokens", json={"user": "carol", "projects": ["team-a"]}))
    dave = ok(admin.post("/tokens", json={"user": "dave", "projects": ["team-b"]}))
    with server.client(carol["secret"]) as a, server.client(dave["secret"]) as b:
        ws = ok(b.post("/workspaces", json={"name": "wb", "gpus": "0.5",
                                            "password": "s3cret-pass"}))
        assert ws["project"] == "team-b" and ws["url"].startswith("http://127.0.0.1:")
        assert "s3cret" not in str(ws)
        assert [w["name"] for w in ok(b.get("/workspaces"))] == ["wb"]
        assert ok(a.get("/workspaces")) == []
        for resp in (a.get("/workspaces/wb"), a.delete("/workspaces/wb"),
                     a.post("/workspaces/wb/stop", json={}),
                     a.post("/workspaces/wb/snapshots", json={}),
                     a.post("/workspaces/wa/clone", json={"source": "wb"}),
                     a.get(f"/jobs/{ws['job']}/logs", params={"project": "team-b"}),
                     a.post(f"/jobs/{ws['job']}/exec", json={"project": "team-b",
                                                             "command": ["id"]})):
            assert resp.status_code in (403, 404), resp.text
        snap = ok(b.post("/workspaces/wb/snapshots", json={"snapshot": "first"}))
        error(a.post(f"/workspace-snapshots/wb@{snap['name']}/restore", json={}), 404)
        assert ok(b.post(f"/workspace-snapshots/wb@{snap['name']}/restore", json={}))
        assert ok(admin.post("/workspaces/wb/stop", json={}))["state"] == "Stopped"
        assert ok(admin.post("/workspaces/wb/start", json={}))["name"] == "wb"
        ok(b.delete("/workspaces/wb"))
        error(admin.get("/workspaces/wb"), 404)
