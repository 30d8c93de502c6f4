"""Real confinement (bubblewrap, as root like CI): a job and ``job exec`` see only what
their job was granted, run as their project's uid with no capabilities, cannot write a
read-only mount, and keep none of the host's secrets; the admin's opt-out runs them
unconfined; a ``sim`` job has nothing to exec into."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlfabric import caches, datasets, jobs, nodes, proctree, projects, remotes, snapshots, volumes
from mlfabric.errors import InvalidInput
from tests.helpers import require_root

PROBE = r"""
import json, os, pathlib
def can(fn):
    try:
        fn(); return True
    except OSError:
        return False
home = os.environ["PROBE_HOME"]
out = {
  "uid": os.getuid(), "caps": open("/proc/self/status").read().split("CapEff:")[1].split()[0],
  "home_visible": os.path.exists(home + "/catalog.db"),
  "other_volume": os.path.exists(home + "/volumes/other"),
  "shadow": os.path.exists("/etc/shadow"), "root": sorted(os.listdir("/root")),
  "pids": len([p for p in os.listdir("/proc") if p.isdigit()]),
  "secret": os.environ.get("AWS_SECRET_ACCESS_KEY"),
  "write_own": can(lambda: pathlib.Path("data/out.txt").write_text("mine")),
  "write_ro": can(lambda: pathlib.Path("clone/new.txt").write_text("x")),
  "write_ro_object": can(lambda: open("clone/a.txt", "a").write("x")),
  "read_dataset": pathlib.Path(os.environ["MLFABRIC_DATASET_PETS"], "a.txt").read_text(),
  "write_dataset": can(lambda: open(os.environ["MLFABRIC_DATASET_PETS"] + "/a.txt", "a")),
  "tmp": can(lambda: pathlib.Path("/tmp/x").write_text("x")),
}
pathlib.Path("data/probe.json").write_text(json.dumps(out))
"""


@pytest.fixture
def cluster(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    require_root("jobs run confined as their projects' uids")
    monkeypatch.setenv("MLFABRIC_RUNTIME", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret")
    h = str(home)
    nodes.add("n1", gpus=2, home=h)
    projects.create("a", quota=1, home=h)
    projects.create("b", quota=1, home=h)
    volumes.create("data", labels=["project=a"], home=h)
    other = Path(volumes.create("other", labels=["project=b"], home=h).path)
    (other / "secret.txt").write_text("b's data")
    src = Path(volumes.create("src", home=h).path)
    (src / "a.txt").write_text("shared")
    snapshots.create("src", name="s1", home=h)
    volumes.clone("clone", "src@s1", mode="link", home=h)  # read-only, shared objects
    remotes.add("lake", str(tmp_path / "lake"), home=h)
    datasets.push("src@s1", name="pets", remote="lake", home=h)
    caches.add("pets:v1", home=h)
    yield h
    for j in jobs.list(home=h):
        if j.state in ("Running", "Pending"):
            jobs.delete([j.name], project=j.project, home=h)


def _wait(h: str, name: str, project: str, states: tuple[str, ...], timeout: float = 60):
    deadline = time.monotonic() + timeout
    while (j := jobs.get(name, project=project, home=h)).state not in states:
        assert time.monotonic() < deadline, (j.state, jobs.logs(name, project=project, home=h))
        jobs.step(home=h)
        time.sleep(0.1)
    return j


def test_a_job_sees_only_what_it_was_granted(cluster: str) -> None:
    h = cluster
    jobs.submit("probe", project="a", gpus=1, command=[sys.executable, "-c", PROBE],
                volumes=["data:data", "clone:clone"], datasets=["pets:v1"],
                env=[f"PROBE_HOME={h}"], home=h)
    done = _wait(h, "probe", "a", ("Succeeded", "Failed"))
    assert done.state == "Succeeded", jobs.logs("probe", project="a", home=h)
    probe = json.loads((Path(volumes.path("data", home=h)) / "probe.json").read_text())
    assert probe["uid"] == projects.show("a", home=h).uid != 0
    assert probe["caps"] == "0000000000000000"
    assert not probe["home_visible"] and not probe["other_volume"] and not probe["shadow"]
    assert probe["root"] == [".pyenv"] or probe["root"] == []  # only the interpreter's path
    assert probe["pids"] <= 5  # its own processes, not the host's
    assert probe["secret"] is None
    assert probe["write_own"] and probe["tmp"]
    assert not probe["write_ro"] and not probe["write_ro_object"]
    assert probe["read_dataset"] == "shared" and not probe["write_dataset"]
    data = Path(volumes.path("data", home=h))
    assert (data / "out.txt").stat().st_uid == probe["uid"]
    assert (Path(volumes.path("src", home=h)) / "a.txt").read_text() == "shared"
    assert snapshots.diff("src@s1", "clone", home=h).modified == []


def test_exec_runs_inside_the_jobs_sandbox(cluster: str) -> None:
    h = cluster
    jobs.submit("sleeper", project="a", gpus=1, volumes=["data:data"], home=h,
                command=[sys.executable, "-c", "import time; time.sleep(60)"])
    _wait(h, "sleeper", "a", ("Running",))
    uid = projects.show("a", home=h).uid
    ran = jobs.exec_output("sleeper", ["sh", "-c", "id -u; ls /proc | grep -c '^[0-9]'; "
                                       f"ls {h}/catalog.db; cat /etc/shadow; ls data"],
                           project="a", home=h)
    lines = ran.output.splitlines()
    assert lines[0] == str(uid)
    assert int(lines[1]) <= 8  # the job's processes and the exec's
    assert f"cannot access '{h}/catalog.db': No such file" in ran.output
    assert "cat: /etc/shadow: No such file" in ran.output
    assert ran.exit_code == 0  # its last command, 'ls data': its own volume is there


GRACEFUL = """
import pathlib, signal, subprocess, sys, time
def bye(*_):
    time.sleep(0.5)  # saving a checkpoint, say
    pathlib.Path("data/graceful.txt").write_text("saved")
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
subprocess.Popen(["sleep", "300"], start_new_session=True)  # out of the job's group
time.sleep(300)
"""


def test_a_stopped_job_has_its_grace_period_and_nothing_in_its_sandbox_survives(
        cluster: str) -> None:
    """bubblewrap, outside, ends at once on SIGTERM; the job inside still has its grace
    period, and a process in a session of its own (which the group's signal misses) is
    gone when the stop returns."""
    h = cluster
    jobs.submit("spawner", project="a", gpus=1, volumes=["data:data"], home=h,
                command=[sys.executable, "-c", GRACEFUL])
    pid = _wait(h, "spawner", "a", ("Running",)).pids[0]
    deadline = time.monotonic() + 30
    while not any(_cmdline(p).startswith(b"sleep\0") for p, _ in proctree.descendants(pid)):
        assert time.monotonic() < deadline, "the job never started its sleeper"
        time.sleep(0.1)
    tree = [(pid, proctree.start_time(pid)), *proctree.descendants(pid)]
    jobs.delete(["spawner"], project="a", home=h)
    assert proctree.alive(tree) == []  # type: ignore[arg-type]
    assert (Path(volumes.path("data", home=h)) / "graceful.txt").read_text() == "saved"


def test_what_a_finished_job_left_running_ends_with_it(cluster: str) -> None:
    h = cluster
    # Only processes started after the submission count: another home's project may
    # have the same uid, and earlier tests' ends are theirs to check.
    clock = subprocess.Popen(["true"])
    since = proctree.stat(clock.pid).start  # type: ignore[union-attr]
    clock.wait()
    jobs.submit("daemon", project="a", gpus=1, home=h, command=[
        sys.executable, "-c",
        "import subprocess; subprocess.Popen(['sleep', '300'], start_new_session=True)"])
    assert _wait(h, "daemon", "a", ("Succeeded", "Failed")).state == "Succeeded"
    uid = projects.show("a", home=h).uid

    def left() -> list[str]:
        return [p for p in os.listdir("/proc") if p.isdigit() and _owner(p) == uid
                and (st := proctree.stat(int(p))) is not None and st.start >= since]

    # None runs once it reads Succeeded; the dead are reaped a moment later.
    assert [p for p in left() if (st := proctree.stat(int(p))) and st.state != "Z"] == []
    deadline = time.monotonic() + 5
    while left():
        assert time.monotonic() < deadline, left()
        time.sleep(0.05)


def _owner(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_exec_has_nothing_to_enter_on_a_sim_node(home: Path) -> None:
    h = str(home)
    nodes.add("s1", gpus=1, runtime="sim", home=h)
    projects.create("a", quota=1, home=h)
    jobs.submit("j", project="a", gpus=1, home=h)
    with pytest.raises(InvalidInput, match="runs on the sim runtime, which has no processes"):
        jobs.exec_output("j", ["id"], project="a", home=h)


def test_the_admins_opt_out_runs_jobs_unconfined(cluster: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    h = cluster
    monkeypatch.setenv("MLFABRIC_UNSAFE_NO_SANDBOX", "1")
    jobs.submit("free", project="a", gpus=1, home=h, command=[
        sys.executable, "-c", f"import os; assert os.path.exists({h!r} + '/catalog.db')"])
    assert _wait(h, "free", "a", ("Succeeded", "Failed")).state == "Succeeded"
    assert os.environ["MLFABRIC_UNSAFE_NO_SANDBOX"] == "1"
