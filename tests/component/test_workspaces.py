"""Workspaces through the library on the ``sim`` runtime (no JupyterLab process): the
catalog, volumes and jobs they make, and bad input that must change nothing."""

from __future__ import annotations

import json
import socket
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlfabric import datasets as lake
from mlfabric import jobs, nodes, projects, remotes, snapshots, volumes
from mlfabric import workspaces as W
from mlfabric.errors import AlreadyExists, Busy, InvalidInput, MlfabricError, NotFound
from tests.helpers import run_cli

PASSWORD = "correct horse battery"


@pytest.fixture
def cluster(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A home with one 2-GPU sim node, projects team-a and team-b, a volume and a dataset."""
    monkeypatch.setenv("MLFABRIC_RUNTIME", "sim")
    h = str(home)
    nodes.add("n1", gpus=2, home=h)
    projects.create("team-a", quota=1, home=h)
    projects.create("team-b", quota=1, home=h)
    volumes.create("refdata", home=h)
    Path(volumes.path("refdata", home=h), "labels.csv").write_text("cat,1\n")
    remotes.add("lake", str(home.parent / "lake"), home=h)
    lake.push("refdata", name="pets", remote="lake", home=h)
    yield h


def state_of(home: str) -> dict[str, Any]:
    """Everything a workspace operation could leave behind."""
    ws_dir = Path(home) / "workspaces"
    return {
        "workspaces": [w.to_dict() for w in W.list(home=home)],
        "volumes": [(v.name, v.labels, v.snapshots) for v in volumes.list(home=home)],
        "jobs": [(j.ref, j.state, j.started_at) for j in jobs.list(home=home)],
        "files": sorted(p.name for p in ws_dir.iterdir()) if ws_dir.exists() else [],
    }


def test_create_makes_a_labelled_volume_an_interactive_job_and_private_config(
        cluster: str) -> None:
    ws = W.create("nb", project="team-a", size="1Gi", gpus="0.5", volumes=["refdata:/data"],
                  datasets=["pets:v1"], password=PASSWORD, home=cluster)
    assert (ws.state, ws.project, ws.volume, ws.job, ws.gpus) == \
        ("Running", "team-a", "nb", "ws-nb", 0.5)
    assert ws.password is None  # given, so never echoed
    assert ws.url == f"http://127.0.0.1:{ws.port}/lab" and ws.size == 1024**3
    assert ws.volumes == ["refdata:data"] and ws.datasets == ["pets:v1"]
    vol = volumes.show("nb", home=cluster)
    assert vol.labels == {"project": "team-a"} and vol.size_limit == 1024**3
    job = jobs.get("ws-nb", project="team-a", home=cluster)
    assert job.interactive and not job.preemptible and job.gpus == 0.5
    assert job.volumes == ["nb", "refdata"] and job.datasets == ["pets:v1"]
    assert job.command[1:3] == ["-m", "mlfabric.workspaces.launch"]
    assert not any(PASSWORD in part for part in job.command)

    config = Path(cluster) / "workspaces" / "nb" / "config" / "jupyter_server_config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.parent.stat().st_mode) == 0o700
    text = config.read_text()
    assert PASSWORD not in text
    hashed = json.loads(text)["PasswordIdentityProvider"]["hashed_password"]
    assert hashed.startswith("argon2:")
    from jupyter_server.auth import passwd_check

    assert passwd_check(hashed, PASSWORD) and not passwd_check(hashed, "wrong password")
    assert PASSWORD.encode() not in (Path(cluster) / "catalog.db").read_bytes()
    assert json.loads(json.dumps(ws.to_dict())) == ws.to_dict()  # plain JSON, round trip


def test_generated_password_comes_back_once(cluster: str) -> None:
    ws = W.create("nb", project="team-a", home=cluster)
    assert ws.password and len(ws.password) >= 8 and ws.gpus == 0.5
    assert W.show("nb", home=cluster).password is None
    assert all(w.password is None for w in W.list(home=cluster))


def test_stop_start_and_idempotence(cluster: str) -> None:
    W.create("nb", project="team-a", password=PASSWORD, home=cluster)
    started = jobs.get("ws-nb", project="team-a", home=cluster).started_at
    assert W.start("nb", home=cluster).state == "Running"  # already running: no new run
    assert jobs.get("ws-nb", project="team-a", home=cluster).started_at == started
    stopped = W.stop("nb", home=cluster)
    assert stopped.state == "Stopped" and stopped.reason is None
    with pytest.raises(NotFound):
        jobs.get("ws-nb", project="team-a", home=cluster)
    assert W.stop("nb", home=cluster).state == "Stopped"
    assert W.start("nb", home=cluster).state == "Running"
    jobs.delete(["ws-nb"], project="team-a", home=cluster)  # behind the workspace's back
    gone = W.show("nb", home=cluster)
    assert gone.state == "Stopped" and "was deleted" in (gone.reason or "")
    assert W.start("nb", home=cluster).state == "Running"


def test_pending_workspace_says_why(cluster: str) -> None:
    W.create("one", project="team-a", gpus=1, password=PASSWORD, home=cluster)
    ws = W.create("two", project="team-a", gpus=0.5, password=PASSWORD, home=cluster)
    assert ws.state == "Pending" and "quota" in (ws.reason or "")
    assert [w.state for w in W.list(project="team-a", home=cluster)] == ["Running", "Pending"]
    assert W.list(project="team-b", home=cluster) == []


def test_snapshot_restore_and_clone(cluster: str) -> None:
    W.create("nb", project="team-a", password=PASSWORD, home=cluster)
    root = Path(volumes.path("nb", home=cluster))
    (root / "notes.txt").write_text("v1")
    snap = W.snapshot("nb", snapshot="before", home=cluster)
    assert (snap.ref, snap.files) == ("nb@before", 1)
    (root / "notes.txt").write_text("v2")
    (root / "later.txt").write_text("x")
    ws = W.restore("nb@before", home=cluster)
    assert ws.state == "Running"
    assert (root / "notes.txt").read_text() == "v1" and not (root / "later.txt").exists()
    kinds = {s.kind for s in snapshots.list("nb", home=cluster)}
    assert "safety" in kinds  # the files before the restore are kept

    W.stop("nb", home=cluster)
    assert W.restore("nb@before", home=cluster).state == "Stopped"  # stays stopped

    copy = W.clone("copy", source="nb@before", project="team-b", home=cluster)
    assert copy.password and copy.project == "team-b" and copy.state == "Running"
    assert copy.port != W.show("nb", home=cluster).port or copy.port > 0
    assert Path(volumes.path("copy", home=cluster), "notes.txt").read_text() == "v1"
    vol = volumes.show("copy", home=cluster)
    assert vol.labels == {"project": "team-b"} and vol.origin == "nb@before"
    live = W.clone("live", source="nb", password=PASSWORD, home=cluster)
    assert live.project == "team-a" and volumes.show("live", home=cluster).origin


def test_delete_with_and_without_the_volume(cluster: str) -> None:
    W.create("nb", project="team-a", password=PASSWORD, home=cluster)
    W.snapshot("nb", home=cluster)
    W.create("kept", project="team-a", password=PASSWORD, home=cluster)
    gone = W.delete("nb", home=cluster)
    assert gone.name == "nb" and gone.state == "Stopped"
    W.delete("kept", keep_volume=True, home=cluster)
    assert [v.name for v in volumes.list(home=cluster)] == ["kept", "refdata"]
    assert W.list(home=cluster) == [] and jobs.list(home=cluster) == []
    assert not (Path(cluster) / "workspaces" / "nb").exists()
    with pytest.raises(NotFound):
        W.show("nb", home=cluster)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


BAD_CREATES: list[tuple[str, dict[str, Any], type[MlfabricError], str]] = [
    ("Bad_Name", {}, InvalidInput, "invalid workspace name"),
    ("a" * 61, {}, InvalidInput, "longer than 60"),
    ("nb", {"project": "nope"}, NotFound, "project 'nope' not found"),
    ("nb", {"volumes": ["missing:/data"]}, NotFound, "volume 'missing' not found"),
    ("nb", {"volumes": ["refdata:../up"]}, InvalidInput, "relative path"),
    ("nb", {"volumes": ["nb:/x"]}, InvalidInput, "own volume"),
    ("nb", {"datasets": ["pets"]}, InvalidInput, "expected DATASET:VERSION"),
    ("nb", {"datasets": ["pets:v9"]}, NotFound, "pets"),
    ("nb", {"gpus": "0"}, InvalidInput, "no zero-GPU jobs"),
    ("nb", {"gpus": "1.5"}, InvalidInput, "neither a whole number"),
    ("nb", {"gpus": "0.0001"}, InvalidInput, "smallest share"),  # the scheduler's check
    ("nb", {"password": "short"}, InvalidInput, "at least 8"),
    ("nb", {"host": "not a host"}, InvalidInput, "invalid host"),
    ("nb", {"host": "192.0.2.1"}, InvalidInput, "cannot listen on host"),
    ("nb", {"port": 70000}, InvalidInput, "invalid port"),
    ("nb", {"size": "lots"}, InvalidInput, "size"),
    ("taken", {}, AlreadyExists, "workspace 'taken' already exists"),
    ("refdata", {}, AlreadyExists, "volume 'refdata' already exists"),
]


@pytest.mark.parametrize(("name", "kwargs", "error", "message"), BAD_CREATES,
                         ids=[f"{c[0][:8]}-{'-'.join(c[1]) or 'name'}" for c in BAD_CREATES])
def test_bad_create_changes_nothing(cluster: str, name: str, kwargs: dict[str, Any],
                                    error: type[MlfabricError], message: str) -> None:
    W.create("taken", project="team-b", password=PASSWORD, home=cluster)
    before = state_of(cluster)
    args = {"project": "team-a", "password": PASSWORD, **kwargs}
    with pytest.raises(error, match=message):
        W.create(name, home=cluster, **args)
    assert state_of(cluster) == before


def test_busy_fixed_port_and_a_users_job_named_like_the_workspace(cluster: str,
                                                                  busy_port: int) -> None:
    jobs.submit("ws-nb", project="team-a", gpus=0.1, command=["true"], home=cluster)
    before = state_of(cluster)
    with pytest.raises(AlreadyExists, match="job 'team-a/ws-nb' already exists"):
        W.create("nb", project="team-a", password=PASSWORD, home=cluster)
    with pytest.raises(Busy, match=f"127.0.0.1:{busy_port}"):
        W.create("other", project="team-a", port=busy_port, password=PASSWORD, home=cluster)
    assert state_of(cluster) == before


ON_MISSING: list[tuple[str, Callable[[str], object]]] = [
    ("show", lambda h: W.show("nope", home=h)),
    ("start", lambda h: W.start("nope", home=h)),
    ("stop", lambda h: W.stop("nope", home=h)),
    ("delete", lambda h: W.delete("nope", home=h)),
    ("snapshot", lambda h: W.snapshot("nope", home=h)),
    ("restore", lambda h: W.restore("nope@s1", home=h)),
    ("clone", lambda h: W.clone("new", source="nope", home=h)),
]


@pytest.mark.parametrize(("verb", "call"), ON_MISSING, ids=[c[0] for c in ON_MISSING])
def test_unknown_workspace(cluster: str, verb: str, call: Callable[[str], object]) -> None:
    before = state_of(cluster)
    with pytest.raises(NotFound, match="workspace 'nope' not found"):
        call(cluster)
    assert state_of(cluster) == before


def test_restore_of_another_volumes_snapshot_changes_nothing(cluster: str) -> None:
    W.create("a", project="team-a", password=PASSWORD, home=cluster)
    W.create("b", project="team-b", password=PASSWORD, home=cluster)
    W.snapshot("b", snapshot="sb", home=cluster)
    snapshots.create("refdata", name="sr", home=cluster)
    before = state_of(cluster)
    for ref in ("a@sb", "a@sr"):
        with pytest.raises(NotFound, match=f"snapshot 'a@{ref[2:]}' not found"):
            W.restore(ref, home=cluster)
    with pytest.raises(NotFound, match="workspace 'refdata' not found"):
        W.restore("refdata@sr", home=cluster)  # a plain volume is no workspace
    for ref in ("a", "a@", "a@sb@x"):
        with pytest.raises(InvalidInput, match="WORKSPACE@SNAPSHOT"):
            W.restore(ref, home=cluster)
    with pytest.raises(NotFound, match="snapshot 'a@sb' not found"):
        W.clone("c", source="a@sb", home=cluster)
    with pytest.raises(AlreadyExists, match="workspace 'b' already exists"):
        W.clone("b", source="a", home=cluster)
    assert state_of(cluster) == before  # 'a' kept running: never stopped


def test_list_of_an_unknown_project(cluster: str) -> None:
    with pytest.raises(NotFound, match="project 'nope' not found"):
        W.list(project="nope", home=cluster)


def test_cli_errors_are_one_line(cluster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFABRIC_PROJECT", raising=False)
    env = {"MLFABRIC_RUNTIME": "sim"}
    r = run_cli(cluster, "workspace", "show", "nope", env=env)
    assert (r.code, r.err.strip()) == (1, "error: workspace 'nope' not found")
    r = run_cli(cluster, "workspace", "create", "nb", "--password-stdin", input="", env=env)
    assert r.code == 2 and "--project" in r.err  # no project: a usage error
    r = run_cli(cluster, "workspace", "create", "nb", "-p", "team-a", "--password-stdin",
                input="", env=env)
    assert (r.code, r.err.strip()) == (1, "error: --password-stdin: no password on stdin")
    r = run_cli(cluster, "workspace", "create", "nb", "-p", "team-a", "--password-stdin",
                "--json", input=PASSWORD + "\n", env=env)
    assert r.code == 0, r.err
    assert r.json()["password"] is None and r.json()["state"] == "Running"
    r = run_cli(cluster, "workspace", "create", "gen", "-p", "team-a", env=env)
    assert r.code == 0 and "url: http://127.0.0.1:" in r.out
    assert "password: " in r.out and "shown once" in r.out
    assert run_cli(cluster, "workspace", "list", "--json", env=env).json()[0]["name"] == "gen"


def test_a_failed_launch_says_why(cluster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    W.create("nb", project="team-a", volumes=["refdata:/data"], password=PASSWORD,
             home=cluster)
    W.stop("nb", home=cluster)
    Path(volumes.path("nb", home=cluster), "data").write_text("a file of the user's")
    monkeypatch.setenv("MLFABRIC_RUNTIME", "local")  # the launcher runs, and refuses
    W.start("nb", home=cluster)
    deadline = time.monotonic() + 60
    while (ws := W.show("nb", home=cluster)).state == "Running":
        assert time.monotonic() < deadline, "the launcher never exited"
        jobs.step(home=cluster)
        time.sleep(0.1)
    assert ws.state == "Failed"
    assert ws.reason == "exit code 1; see `mlfabric job logs ws-nb -p team-a`"
    log = jobs.logs("ws-nb", project="team-a", home=cluster)
    assert "'data' exists in the workspace volume and is not a mount link" in log
    assert Path(volumes.path("nb", home=cluster), "data").read_text() == "a file of the user's"
    assert W.stop("nb", home=cluster).state == "Stopped"
