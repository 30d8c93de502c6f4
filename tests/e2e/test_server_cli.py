"""``server start``, ``token ...`` and the CLI in client mode (``MLFABRIC_SERVER``):
identical errors, log following and exec through the server, clear errors for a bad
server setting."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Result, run_cli
from tests.server import Server, start_server

LOCAL = {"MLFABRIC_RUNTIME": "local", "MLFABRIC_PREEMPT_GRACE": "2s"}


@pytest.fixture
def server(home: Path) -> Iterator[Server]:
    s = start_server(home, env=LOCAL)
    try:
        yield s
    finally:
        assert s.stop() == 0, "".join(s.lines)


def via(server: Server, *args: str, token: str | None = None) -> Result:
    env = {"MLFABRIC_SERVER": server.url, "MLFABRIC_TOKEN": token or server.token or "",
           **LOCAL}
    return run_cli(server.home, *args, env=env)


def ok(r: Result) -> Result:
    assert r.code == 0, r.err
    return r


BAD = [
    ["volume", "create", "Bad_Name"],
    ["volume", "show", "missing"],
    ["snapshot", "restore", "missing@x"],
    ["snapshot", "create", "v", "--name", "s1"],  # exists already
    ["project", "create", "p", "--quota", "-1"],
    ["job", "get", "nope", "-p", "p"],
    ["job", "submit", "j", "-p", "p", "-g", "0", "--", "true"],
    ["node", "add", "n", "--gpus", "-3"],
]


def test_errors_and_output_are_identical_in_both_modes(server: Server) -> None:
    home = server.home
    ok(run_cli(home, "volume", "create", "v", env=LOCAL))
    ok(run_cli(home, "snapshot", "create", "v", "--name", "s1", env=LOCAL))
    ok(run_cli(home, "project", "create", "p", "--quota", "1", env=LOCAL))
    for args in BAD:
        local, remote = run_cli(home, *args, env=LOCAL), via(server, *args)
        assert local.code == remote.code == 1, (args, local.err, remote.err)
        assert local.err == remote.err and local.err.startswith("error: "), args
        assert local.out == remote.out == ""
    for args in (["volume", "list", "--json"], ["snapshot", "list", "v", "--json"],
                 ["project", "show", "p"], ["volume", "show", "v"], ["snapshot", "list", "v"]):
        assert run_cli(home, *args, env=LOCAL).out == ok(via(server, *args)).out, args


def test_jobs_through_the_server_logs_follow_and_exec(server: Server) -> None:
    ok(via(server, "node", "add", "local", "--gpus", "1", "--runtime", "local"))
    ok(via(server, "project", "create", "p", "--quota", "1"))
    script = ("import time\nfor i in range(3):\n"
              " print('tick', i, flush=True)\n time.sleep(0.5)\n")
    ok(via(server, "job", "submit", "ticker", "-p", "p", "-g", "1", "--",
           sys.executable, "-c", script))
    followed = ok(via(server, "job", "logs", "ticker", "-p", "p", "--follow"))
    assert followed.out == "tick 0\ntick 1\ntick 2\n"
    assert ok(via(server, "job", "get", "ticker", "-p", "p", "--json")).json()["state"] == \
        "Succeeded"
    ok(via(server, "job", "submit", "sleeper", "-p", "p", "-g", "1", "--",
           sys.executable, "-c", "import time; time.sleep(60)"))
    ran = via(server, "job", "exec", "sleeper", "-p", "p", "--", sys.executable, "-c",
              "import os, sys; print(os.environ['CUDA_VISIBLE_DEVICES']); sys.exit(3)")
    assert ran.code == 3 and ran.out == "0\n"
    ok(via(server, "job", "delete", "sleeper", "-p", "p"))
    assert "sleeper" not in ok(via(server, "job", "list", "--json")).out


def test_tokens_from_the_cli_and_member_isolation(server: Server) -> None:
    home = server.home
    for p in ("team-a", "team-b"):
        ok(via(server, "project", "create", p, "--quota", "1"))
    created = ok(via(server, "--json", "token", "create", "--user", "alice", "-p", "team-a"))
    alice = created.json()["secret"]
    assert alice.startswith("mlf_")
    plain = ok(run_cli(home, "token", "create", "--user", "bob", "-p", "team-b"))
    bob = plain.out.strip().splitlines()[-1]
    listed = ok(via(server, "token", "list"))
    assert "alice" in listed.out and "bob" in listed.out and alice not in listed.out
    ok(via(server, "volume", "create", "b-vol", token=bob))
    assert ok(via(server, "volume", "show", "b-vol", "--json")).json()["labels"] == \
        {"project": "team-b"}
    denied = via(server, "volume", "delete", "b-vol", token=alice)
    assert denied.code == 1
    assert denied.err == "error: user 'alice' may not act on volume 'b-vol' of project " \
                         "'team-b'\n"
    assert via(server, "token", "list", token=alice).err == "error: user 'alice' is not an admin\n"
    token_id = next(t["id"] for t in ok(via(server, "token", "list", "--json")).json()
                    if t["user"] == "bob")
    ok(via(server, "token", "revoke", str(token_id)))
    assert via(server, "volume", "list", token=bob).err == "error: invalid or revoked token\n"


def test_bad_server_settings_are_one_clear_line(home: Path) -> None:
    r = run_cli(home, "volume", "list", env={"MLFABRIC_SERVER": "http://127.0.0.1:9",
                                             "MLFABRIC_TOKEN": "mlf_x"})
    assert r.code == 1 and r.err.startswith("error: cannot reach the server at "), r.err
    r = run_cli(home, "volume", "list", env={"MLFABRIC_SERVER": "http://127.0.0.1:9",
                                             "MLFABRIC_TOKEN": ""})
    assert r.code == 1 and "MLFABRIC_TOKEN" in r.err
    r = run_cli(home, "volume", "list", env={"MLFABRIC_SERVER": "localhost:1",
                                             "MLFABRIC_TOKEN": "x"})
    assert r.code == 1 and "http://" in r.err
    r = run_cli(home, "scheduler", "run", env={"MLFABRIC_SERVER": "http://127.0.0.1:9",
                                               "MLFABRIC_TOKEN": "x"})
    assert r.code == 1 and "runs only on the server's machine" in r.err


def test_port_in_use_is_a_clear_error(server: Server) -> None:
    port = server.url.rsplit(":", 1)[1]
    r = run_cli(server.home, "server", "start", "--port", port)
    assert r.code == 1 and r.err.startswith(f"error: cannot listen on 127.0.0.1:{port}")
