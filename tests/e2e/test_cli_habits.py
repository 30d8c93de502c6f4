"""CLI habits users bring from runai, kubectl and docker (issue 15, items 15 and 17):
safe destructive verbs, a default project, ``job describe``, ``--version``, completion,
help without artifacts, docker-style ``--volume``, a mistyped ``--home`` refused."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Result, run_cli, run_on_terminal

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
    ok(home, "job", "delete", "train", "-p", "team")
    ok(home, "volume", "delete", "data")  # no terminal: nothing asked, as dataset delete
    assert ok(home, "volume", "list", "--json").json() == []


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
