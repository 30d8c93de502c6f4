"""CLI habits users bring from runai, kubectl and docker (issue 15, items 15 and 17):
safe destructive verbs, a default project, ``job describe``, ``--version``, completion,
help without artifacts, docker-style ``--volume``, a mistyped ``--home`` refused."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import MLFABRIC, Result, run_cli, run_on_terminal

SIM = {"MLFABRIC_RUNTIME": "sim"}
SERVER_ENV = SIM  # client mode: the server runs the sim runtime


def ok(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    r = run_cli(home, *args, env={**SIM, **(env or {})})
    assert r.code == 0, f"{args}: {r.err}"
    return r


def fails(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    r = run_cli(home, *args, env={**SIM, **(env or {})})
    assert r.code == 1, f"{args}: {r.code} {r.out} {r.err}"
    assert r.err.startswith("error: ") and r.err.count("\n") == 1, r.err
    return r


def cluster(home: Path, project: str = "team") -> None:
    ok(home, "node", "add", "n1", "--gpus", "2")
    ok(home, "project", "create", project, "--quota", "2")


# -- item 17: destructive verbs are safe by default -----------------------------------------

def test_volume_delete_refuses_a_mounted_volume(home: Path, cli_mode: str) -> None:
    cluster(home)
    ok(home, "volume", "create", "data")
    ok(home, "job", "submit", "train", "-p", "team", "-g", "1", "--volume", "data:in",
       "--", "sleep", "1000")
    r = fails(home, "volume", "delete", "data", "--force", "--yes")
    assert "job team/train (running)" in r.err, r.err
    assert "data" in [v["name"] for v in ok(home, "volume", "list", "--json").json()]
    plan = ok(home, "volume", "delete", "data", "--dry-run", "--json").json()
    assert plan["mounted_by"] == ["job team/train (running)"]
    r = run_cli(home, "workspace", "create", "nb", "-p", "team", "-g", "0.5",
                "--password-stdin", input="a-long-password\n", env=SIM)
    assert r.code == 0, r.err
    r = fails(home, "volume", "delete", "nb", "--yes")
    assert "workspace nb (" in r.err, r.err  # named as the user made it, not its job
    ok(home, "job", "delete", "train", "-p", "team")
    ok(home, "volume", "delete", "data")  # no terminal: nothing asked, as dataset delete
    assert [v["name"] for v in ok(home, "volume", "list", "--json").json()] == ["nb"]


def test_volume_delete_asks_on_a_terminal(home: Path) -> None:
    ok(home, "volume", "create", "data")
    r = run_on_terminal(home, "volume", "delete", "data", answer="n")
    assert r.code == 1 and "delete volume data" in r.err and "aborted" in r.err, r
    assert [v["name"] for v in ok(home, "volume", "list", "--json").json()] == ["data"]
    r = run_on_terminal(home, "volume", "delete", "data", answer="y")
    assert r.code == 0 and "deleted volume data" in r.out, r
    ok(home, "volume", "create", "data")
    r = run_on_terminal(home, "volume", "delete", "data", "-y", answer="n")
    assert r.code == 0 and "[y/N]" not in r.err, r


def test_every_delete_of_data_asks_on_a_terminal(home: Path, tmp_path: Path) -> None:
    """A snapshot, a dataset version and a workspace with its volume are asked for
    first, as a volume is; "n" leaves each as it was, "y" or ``-y`` deletes."""
    cluster(home)
    ok(home, "volume", "create", "data")
    (Path(ok(home, "volume", "path", "data").out.strip()) / "a.txt").write_text("x\n")
    ok(home, "snapshot", "create", "data", "--name", "s1")
    ok(home, "remote", "add", "lake", f"file://{tmp_path / 'lake'}")
    ok(home, "dataset", "push", "data@s1", "--name", "pets", "--remote", "lake")
    r = run_cli(home, "workspace", "create", "nb", "-p", "team", "-g", "0.5",
                "--password-stdin", input="a-long-password\n", env=SIM)
    assert r.code == 0, r.err
    cases = (
        (("snapshot", "delete", "data@s1"), "delete snapshot data@s1 (1 files",
         lambda: [x["name"] for x in ok(home, "snapshot", "list", "data", "--json").json()]),
        (("dataset", "delete", "pets:v1", "--force"),
         "delete dataset version pets:v1 of remote lake (1 files",
         lambda: ok(home, "dataset", "list", "--json").json()),
        (("workspace", "delete", "nb"), "delete workspace nb and its volume nb with its",
         lambda: [x["name"] for x in ok(home, "workspace", "list", "--json").json()]),
    )
    for args, question, listed in cases:
        before = listed()
        assert before, args
        r = run_on_terminal(home, *args, answer="n")
        assert r.code == 1 and question in r.err and "aborted" in r.err, (args, r)
        assert listed() == before, args
        r = run_on_terminal(home, *args, "-y", answer="n")
        assert r.code == 0 and "[y/N]" not in r.err, (args, r)
        assert listed() != before, args


# -- item 15: help reads as text ------------------------------------------------------------

ARTIFACTS = re.compile(r"<[a-z][a-z ]*>|\{[A-Za-z_.]+\}|``|:[a-z]+:`|\\b")


def _commands() -> list[list[str]]:
    """Every command path (``["volume", "delete"]``), loading each noun as a user would."""
    import typer

    from mlfabric.cli.main import app

    root = typer.main.get_command(app)
    found: list[list[str]] = [[]]

    def walk(group: Any, path: list[str]) -> None:
        ctx = group.context_class(group)
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            assert cmd is not None, [*path, name]
            found.append([*path, name])
            if hasattr(cmd, "list_commands"):  # a group
                walk(cmd, [*path, name])

    walk(root, [])
    return found


def test_every_help_is_plain_text(home: Path) -> None:
    commands = _commands()
    assert ["volume", "delete"] in commands and ["job", "submit"] in commands
    bad = {}
    for path in commands:
        r = run_cli(home, *path, "--help")
        assert r.code == 0, (path, r.err)
        hits = ARTIFACTS.findall(r.out)
        if hits:
            bad[" ".join(path)] = sorted(set(hits))
    assert bad == {}


def test_version(home: Path) -> None:
    import mlfabric

    r = ok(home, "--version")
    assert r.out == f"mlfabric {mlfabric.__version__}\n"


def test_bash_completes_nouns_verbs_and_options(home: Path) -> None:
    """The script ``--show-completion`` prints, sourced in bash, completes as a TAB would."""
    script = ('eval "$(mlfabric --show-completion)"; for words in "mlfabric vol" '
              '"mlfabric volume d" "mlfabric volume delete --y"; do COMP_WORDS=($words); '
              'COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _mlfabric_completion mlfabric; '
              'echo "${COMPREPLY[*]}"; done')
    env = {**os.environ, "PATH": f"{Path(MLFABRIC).parent}:{os.environ['PATH']}",
           "MLFABRIC_HOME": str(home)}
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["volume", "delete", "--yes"], r


def _finish(home: Path, name: str, project: str = "team") -> dict:
    deadline = time.monotonic() + 30
    while (j := ok(home, "job", "get", name, "-p", project, "--json").json())["state"] in (
            "Pending", "Running"):
        assert time.monotonic() < deadline, j
        ok(home, "scheduler", "step")
    return j


def test_job_get_shows_the_quoted_command_and_where_it_ran(home: Path) -> None:
    cluster(home)
    argv = ["python", "-c", "print('a b')", ""]
    ok(home, "job", "submit", "quoted", "-p", "team", "-g", "1", "--sim-duration", "1",
       "--", *argv)
    j = _finish(home, "quoted")
    assert j["state"] == "Succeeded" and j["placements"][0]["node"] == "n1", j
    out = ok(home, "job", "get", "quoted", "-p", "team").out
    assert shlex.join(argv) in out, out  # what a shell gives back as the same argv
    assert "n1:0" in out, out


def test_job_describe_lists_its_events_with_times_and_reasons(home: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "2")
    ok(home, "project", "create", "team", "--quota", "0")  # it borrows, and gives back
    ok(home, "job", "submit", "low", "-p", "team", "-g", "2", "--", "sleep", "100")
    ok(home, "project", "create", "other", "--quota", "2")
    ok(home, "job", "submit", "high", "-p", "other", "-g", "2", "--", "sleep", "100")
    d = ok(home, "job", "describe", "low", "-p", "team", "--json").json()
    assert d["job"]["state"] == "Pending" and d["job"]["reason"], d
    kinds = [e["kind"] for e in d["events"]]
    assert kinds == ["submitted", "started", "preempted"], kinds
    assert "other/high" in d["events"][2]["message"] and d["events"][2]["at"] > 0
    out = ok(home, "job", "describe", "low", "-p", "team").out
    assert "Events" in out and "preempted" in out and "other/high" in out, out
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+started", out), out


def test_a_default_project_for_every_noun(home: Path, tmp_path: Path) -> None:
    ok(home, "node", "add", "n1", "--gpus", "4")
    for p in ("a", "b", "c"):
        ok(home, "project", "create", p, "--quota", "1")
    r = run_cli(home, "job", "submit", "j", "-g", "1", "--", "true", env=SIM)
    assert r.code == 2 and "config set project" in r.err, r

    ok(home, "config", "set", "project", "a")
    assert ok(home, "config", "get", "project").out == "a\n"
    assert "project = \"a\"" in (tmp_path / "config.toml").read_text()
    ok(home, "job", "submit", "j", "-g", "1", "--", "true")  # the setting
    ok(home, "job", "submit", "j", "-g", "1", "--", "true",
       env={"MLFABRIC_PROJECT": "b"})  # env wins
    ok(home, "job", "submit", "j", "-g", "1", "-p", "c", "--", "true",
       env={"MLFABRIC_PROJECT": "b"})  # explicit wins over both
    refs = lambda *a, **kw: [j["ref"] for j in ok(home, "job", "list", *a, "--json",  # noqa: E731
                                                  **kw).json()]
    assert refs() == ["a/j"]
    assert refs(env={"MLFABRIC_PROJECT": "b"}) == ["b/j"]
    assert refs("-A") == ["a/j", "b/j", "c/j"]
    for verb in ("get", "describe"):  # the name is found in the default project
        assert "a/j" in ok(home, "job", verb, "j", "--json").out
    assert ok(home, "workspace", "list", "--json").json() == []
    assert ok(home, "inference", "list", "--json").json() == []
    listed = ok(home, "config", "list", "--json", env={"MLFABRIC_PROJECT": "b"}).json()
    assert listed == [{"key": "project", "value": "b", "source": "$MLFABRIC_PROJECT"}]
    ok(home, "job", "delete", "j")
    assert refs("-A") == ["b/j", "c/j"]
    ok(home, "config", "unset", "project")
    assert run_cli(home, "config", "get", "project").code == 1
    assert refs() == ["b/j", "c/j"]  # no default: every project
    r = fails(home, "config", "set", "colour", "blue")
    assert "unknown setting 'colour'" in r.err
    fails(home, "config", "set", "project", "Not_A_Name")


def test_a_mistyped_home_is_refused_not_created(tmp_path: Path) -> None:
    def mlfabric(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([MLFABRIC, *args], capture_output=True, text=True, timeout=60)

    typo = tmp_path / "homme"
    r = mlfabric("--home", str(typo), "volume", "create", "data")
    assert r.returncode == 1 and r.stderr.startswith(f"error: home '{typo}' not found"), r
    assert "init" in r.stderr and not typo.exists()
    assert mlfabric("--home", str(typo), "volume", "create", "--help").returncode == 0
    assert not typo.exists()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    r = mlfabric("volume", "list", "--home", str(tmp_path / "notes"))
    assert r.returncode == 1 and "not an mlfabric home" in r.stderr, r
    assert sorted(p.name for p in (tmp_path / "notes").iterdir()) == ["todo.txt"]

    real = tmp_path / "real"
    r = mlfabric("--home", str(real), "init")
    assert r.returncode == 0 and "initialized" in r.stdout and (real / "catalog.db").exists()
    assert mlfabric("--home", str(real), "volume", "create", "data").returncode == 0
    assert "already" in mlfabric("--home", str(real), "init").stdout
    # the default home ($MLFABRIC_HOME, else ~/.mlfabric) is made on first use
    default = Path(os.environ["MLFABRIC_HOME"])
    assert not default.exists()
    assert mlfabric("volume", "list").returncode == 0 and (default / "catalog.db").exists()


def test_volume_at_an_absolute_path_like_docker(local_home: Path) -> None:
    home, local = local_home, {"MLFABRIC_RUNTIME": "local"}
    ok(home, "node", "add", "n1", "--gpus", "1", env=local)
    ok(home, "project", "create", "team", "--quota", "1", env=local)
    ok(home, "volume", "create", "out")
    ok(home, "volume", "create", "in")
    (Path(ok(home, "volume", "path", "in").out.strip()) / "x.txt").write_text("input")
    prog = ("import pathlib; pathlib.Path('/results/r.txt').write_text("
            "pathlib.Path('data/x.txt').read_text() + ' done')")
    ok(home, "job", "submit", "abs", "-g", "1", "-p", "team", "--volume", "out:/results",
       "--volume", "in:data", "--", sys.executable, "-c", prog, env=local)
    deadline = time.monotonic() + 60
    while (j := ok(home, "job", "get", "abs", "-p", "team", "--json", env=local).json())[
            "state"] in ("Pending", "Running"):
        assert time.monotonic() < deadline, j
        time.sleep(0.2)
        ok(home, "scheduler", "step", env=local)
    assert j["state"] == "Succeeded", (j, ok(home, "job", "logs", "abs", "-p", "team").out)
    out = Path(ok(home, "volume", "path", "out").out.strip())
    assert (out / "r.txt").read_text() == "input done"
    unconfined = {**local, "MLFABRIC_UNSAFE_NO_SANDBOX": "1"}  # no sandbox to mount in
    j = ok(home, "job", "submit", "bare", "-g", "1", "-p", "team", "--volume", "out:/results",
           "--json", "--", "true", env=unconfined).json()
    assert j["state"] == "Failed" and "absolute mount paths need the sandbox" in j["message"]


@pytest.mark.parametrize(("mounts", "message"), [
    (["out:/usr/share/x"], "is the system's"),
    (["out:/"], "use a path inside"),
    (["out:/results:ro"], "mount options"),
    (["out:/data", "in:/data/sub"], "ambiguous volume mounts"),
    (["out:/data", "in:/data"], "ambiguous volume mounts"),
])
def test_unsafe_or_ambiguous_mount_paths_are_refused(home: Path, mounts: list[str],
                                                     message: str) -> None:
    cluster(home)
    ok(home, "volume", "create", "out")
    ok(home, "volume", "create", "in")
    flags = [f for m in mounts for f in ("--volume", m)]
    r = fails(home, "job", "submit", "j", "-p", "team", *flags, "--", "true")
    assert message in r.err, r.err
    assert ok(home, "job", "list", "-A", "--json").json() == []
