"""The isolation matrix, generated from the operation table: for every operation and every
argument that names a project's resource, a member of team-b naming team-a's resource is
refused (as "not found" for volumes, jobs, workspaces and inference servers: word for word
what a missing one gets), and team-a's resources are as they were. A member's job mounts
only dataset versions an admin cached. Its size is printed."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlfabric.api.operations import Operation, operations
from mlfabric.api.references import OWNED
from mlfabric.testing.trees import tree_digest
from tests.server import Server, demo_server

# team-a's resource of each kind, as each kind of argument spells it
THEIRS = {"volume": "demo-data", "job": "resnet-a1", "workspace": "ws-a",
          "inference": "inf-a", "mounted-dataset": "theirs-set:v1"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    with demo_server(tmp_path_factory.mktemp("matrix") / "home") as server:
        with server.client() as admin:
            ok(admin.post("/workspaces", json={"name": "ws-a", "project": "team-a",
                                               "password": "secret-a"}))
            ok(admin.post("/inference", json={"name": "inf-a", "project": "team-a",
                                              "model_repo": "demo-data", "wait_s": 0}))
            bob = ok(admin.post("/tokens", json={"user": "bob", "projects": ["team-b"]}))
        yield server, bob["secret"]


def ok(resp: httpx.Response) -> Any:
    assert resp.status_code == 200, resp.text
    return resp.json()


def _value(name: str, annotation: Any) -> Any:
    """A well-formed value for an argument that is not under test."""
    text = str(annotation)
    if "list" in text or "Sequence" in text:
        return ["x"]
    if "bool" in text and "str" not in text:
        return False
    if "int" in text or "float" in text:
        return 1
    return "x"


def _value_of(ref_arg: str, kind: str, annotation: Any) -> Any:
    theirs = THEIRS[kind]
    if ref_arg in ("ref",) and kind == "volume":
        theirs = "demo-data@baseline"
    if ref_arg in ("ref",) and kind == "workspace":
        theirs = "ws-a@s1"
    text = str(annotation)
    return [theirs] if ("list" in text or "Sequence" in text) else theirs


def _request(op: Operation, ref_arg: str, kind: str) -> tuple[str, str, dict[str, Any]]:
    """(method, path, params or body) naming team-a's resource in ``ref_arg``."""
    hints = typing.get_type_hints(op.func)
    args: dict[str, Any] = {}
    for p in op.parameters():
        if p.name == ref_arg:
            args[p.name] = _value_of(ref_arg, kind, hints.get(p.name, str))
        elif p.name == "project":
            args[p.name] = "team-b"  # the member's own project
        elif p.default is inspect.Parameter.empty or p.name in op.path_params:
            args[p.name] = _value(p.name, hints.get(p.name, str))
    path = op.path
    for name in op.path_params:
        path = path.replace("{" + name + "}", str(args.pop(name)))
    return op.method, path, args


def cases() -> list[tuple[str, str, str]]:
    return [(key, ref.arg, ref.kind) for key, op in operations().items()
            for ref in op.refs if ref.kind in OWNED | {"mounted-dataset"}]


def test_every_reference_of_every_operation_is_refused_to_another_project(
        cluster: tuple[Server, str], request: pytest.FixtureRequest) -> None:
    server, bob = cluster
    home = server.home
    before = tree_digest(Path(home) / "volumes" / "demo-data")
    matrix = cases()
    assert len({key for key, _, _ in matrix}) >= 30  # every operation that names one
    successes = []
    with server.client(bob) as client:
        missing = {kind: client.get(path).json()["error"]["message"] for kind, path in (
            ("volume", "/volumes/nope"), ("job", "/jobs/nope"),
            ("workspace", "/workspaces/nope"), ("inference", "/inference/nope"))}
        for key, arg, kind in matrix:
            method, path, args = _request(operations()[key], arg, kind)
            send = ({"params": args} if method in ("GET", "DELETE") else {"json": args})
            resp = client.request(method, path, **send)
            if resp.status_code < 400:
                successes.append((key, arg, resp.status_code, resp.text[:200]))
                continue
            body = resp.json()["error"]
            if resp.status_code == 403 and body["message"] == "user 'bob' is not an admin":
                continue  # an admin's operation: refused before any argument is read
            if kind in OWNED:  # the same words as for a resource that does not exist
                shape = re.escape(missing[kind]).replace("nope", "[^']+")
                assert resp.status_code == 404 and re.fullmatch(shape, body["message"]), \
                    (key, arg, resp.text)
                assert "team-a" not in body["message"], (key, arg, body)
            else:
                assert resp.status_code == 403 and "not cached" in body["message"], \
                    (key, arg, resp.text)
    assert successes == []
    assert tree_digest(Path(home) / "volumes" / "demo-data") == before
    with server.client() as admin:
        assert ok(admin.get("/jobs/resnet-a1", params={"project": "team-a"}))["name"]
        assert ok(admin.get("/workspaces/ws-a"))["project"] == "team-a"
        assert ok(admin.get("/inference/inf-a"))["project"] == "team-a"
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"isolation matrix: {len(matrix)} cases over "
                            f"{len({k for k, _, _ in matrix})} operations, 0 cross-project "
                            "successes")


def project_cases() -> list[str]:
    """The operations whose project is one the caller must belong to."""
    return [key for key, op in operations().items()
            if "project" in op.access.fills()
            and "project" in {p.name for p in op.parameters()}]


def test_every_operation_of_a_project_refuses_a_member_of_another(
        cluster: tuple[Server, str]) -> None:
    """Naming another project (listing its jobs, submitting into it, reading an app's
    data kept per project...) is a 403 that names the project, for every such
    operation."""
    server, bob = cluster
    keys = project_cases()
    assert {"jobs.submit", "jobs.list", "callcenter.list_calls"} <= set(keys)
    with server.client() as admin:
        jobs_before = ok(admin.get("/jobs", params={"project": "team-a"}))
    refused = {}
    with server.client(bob) as client:
        for key in keys:
            method, path, args = _request(operations()[key], "", "")
            args["project"] = "team-a"
            send = ({"params": args} if method in ("GET", "DELETE") else {"json": args})
            resp = client.request(method, path, **send)
            refused[key] = (resp.status_code, resp.json().get("error", {}).get("message"))
    wanted = (403, "user 'bob' is not a member of project 'team-a'")
    assert {k: v for k, v in refused.items() if v != wanted} == {}
    with server.client() as admin:
        assert ok(admin.get("/jobs", params={"project": "team-a"})) == jobs_before


def test_a_members_job_mounts_only_what_an_admin_cached(cluster: tuple[Server, str]) -> None:
    server, bob = cluster
    with server.client(bob) as client:
        cached = ok(client.get("/caches"))[0]["ref"]
        resp = client.post("/jobs", json={"name": "reads", "project": "team-b",
                                          "gpus": "1", "datasets": [cached]})
        assert resp.status_code == 200, resp.text
        refused = client.post("/jobs", json={"name": "fills", "project": "team-b",
                                             "gpus": "1", "datasets": ["demo-set:v99"]})
        assert refused.status_code == 403
        assert "not cached; ask an admin" in refused.json()["error"]["message"]
