"""Output for scripts, as kubectl and docker give it: whole cells when piped, ``-o
wide|name|json|yaml`` on every listing, ``--quiet`` for names only, errors as JSON
under ``--json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers import Result, run_cli

SIM = {"MLFABRIC_RUNTIME": "sim"}
LONG = "a-volume-name-long-enough-that-an-eighty-column-table-cuts-it"
LABEL = "owner=someone-whose-name-does-not-fit-either"


def cli(home: Path, *args: str, **kwargs: object) -> Result:
    return run_cli(home, *args, env=SIM, **kwargs)  # type: ignore[arg-type]


def ok(home: Path, *args: str) -> Result:
    r = cli(home, *args)
    assert r.code == 0, f"{args}: {r.err}"
    return r


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One home with something in every listing that needs no extra service."""
    home = tmp_path_factory.mktemp("filled")
    ok(home, "volume", "create", LONG, "--label", LABEL)
    ok(home, "volume", "create", "data")
    ok(home, "snapshot", "create", "data", "--name", "s1")
    ok(home, "node", "add", "n1", "--gpus", "8")
    ok(home, "project", "create", "team-a", "--quota", "2")
    ok(home, "job", "submit", "train", "-p", "team-a", "-g", "1", "--", "true")
    ok(home, "remote", "add", "lake", str(home / "lake"))
    ok(home, "dataset", "push", "data@s1", "--name", "pets", "--remote", "lake")
    ok(home, "cache", "add", "pets:v1")
    ok(home, "token", "create", "--user", "alice", "-p", "team-a")
    return home


# (listing, the names it prints with -o name and --quiet)
LISTINGS = [
    (["volume", "list"], [LONG, "data"]),
    (["snapshot", "list", "data"], ["data@s1"]),
    (["node", "list"], ["n1"]),
    (["project", "list"], ["team-a"]),
    (["job", "list"], ["team-a/train"]),
    (["remote", "list"], ["lake"]),
    (["dataset", "list"], ["pets"]),
    (["dataset", "versions", "pets"], ["pets:v1"]),
    (["cache", "list"], ["pets:v1"]),
    (["cache", "stats"], ["default"]),
    (["token", "list"], ["1"]),
    (["workspace", "list"], []),
    (["inference", "list"], []),
    (["config", "list"], ["project"]),
]


def test_piped_tables_are_never_cut(filled: Path) -> None:
    r = cli(filled, "volume", "list", process=True)  # stdout is a pipe, not a terminal
    assert r.code == 0, r.err
    line = next(x for x in r.out.splitlines() if LONG in x)
    assert LABEL in line and "…" not in r.out


def test_a_terminal_fits_the_table_and_wide_does_not(filled: Path) -> None:
    term = {"TTY_COMPATIBLE": "1", "COLUMNS": "80", "NO_COLOR": "1"}
    fitted = run_cli(filled, "volume", "list", env=term, process=True)
    assert fitted.code == 0 and "…" in fitted.out and LONG not in fitted.out
    wide = run_cli(filled, "volume", "list", "-o", "wide", env=term, process=True)
    assert wide.code == 0
    line = next(x for x in wide.out.splitlines() if LONG in x)
    assert LABEL in line


@pytest.mark.parametrize(("args", "names"), LISTINGS, ids=lambda a: " ".join(a)
                         if isinstance(a, list) and a and isinstance(a[0], str) else None)
def test_names_json_and_yaml_for_every_listing(filled: Path, args: list[str],
                                               names: list[str]) -> None:
    assert ok(filled, *args, "-o", "name").out.splitlines() == names
    assert ok(filled, *args, "--quiet").out.splitlines() == names
    assert ok(filled, "-q", *args).out.splitlines() == names
    as_json = ok(filled, *args, "--json").json()
    assert ok(filled, *args, "-o", "json").json() == as_json
    assert ok(filled, *args, "--output=json").json() == as_json
    assert yaml.safe_load(ok(filled, *args, "-o", "yaml").out) == as_json
    assert len(as_json) == len(names)


def test_get_commands_take_the_formats_too(filled: Path) -> None:
    shown = ok(filled, "volume", "show", "data", "--json").json()
    assert yaml.safe_load(ok(filled, "volume", "show", "data", "-o", "yaml").out) == shown
    assert ok(filled, "volume", "show", "data", "-o", "name").out == "data\n"
    assert ok(filled, "job", "get", "team-a/train", "-o", "name").out == "team-a/train\n"


def test_names_round_trip_into_the_next_command(filled: Path) -> None:
    ref = ok(filled, "job", "list", "-q").out.split()[0]
    assert ok(filled, "job", "get", ref, "--json").json()["ref"] == ref
    r = cli(filled, "job", "get", ref, "-p", "other")
    assert r.code == 1 and "team-a/train" in r.err and "other" in r.err


def test_errors_under_json_are_json_on_stderr(filled: Path) -> None:
    r = cli(filled, "volume", "show", "missing", "--json")
    assert r.code == 1 and r.out == "" and len(r.err.splitlines()) == 1
    assert json.loads(r.err) == {"error": {"type": "NotFound", "message":
                                           "volume 'missing' not found",
                                           "kind": "volume", "name": "missing"}}
    r = cli(filled, "-o", "json", "volume", "list", "--bogus")
    assert r.code == 2
    err = json.loads(r.err)["error"]
    assert err["type"] == "UsageError" and "--bogus" in err["message"]
    r = cli(filled, "volume", "show", "missing", "-o", "yaml")
    assert r.code == 1 and yaml.safe_load(r.err)["error"]["type"] == "NotFound"
    r = cli(filled, "volume", "show", "missing")  # without: the one line
    assert r.code == 1 and r.err == "error: volume 'missing' not found\n"


def test_an_unknown_format_is_a_usage_error(filled: Path) -> None:
    r = cli(filled, "volume", "list", "-o", "xml")
    assert r.code == 2 and "wide, name, json, yaml" in r.err
    assert cli(filled, "volume", "list", "--output", "a=b").code == 2
    assert ok(filled, "node", "list", "-oname").out == "n1\n"
    # -o k=v stays the transfer commands' file-system option
    r = cli(filled, "transfer", "scan", str(filled / "lake"), "-o", "anon=true")
    assert r.code == 0, r.err
