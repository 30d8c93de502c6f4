"""``server start``, ``token ...`` and the CLI in client mode (``MLFABRIC_SERVER``):
identical errors, log following and exec through the server, clear errors for a bad
server setting; the server's admin token issued once (and rotated on request), admin
access recovered locally, tokens that expire."""

from __future__ import annotations

import datetime as dt
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlfabric import tokens, volumes
from tests.helpers import Result, make_run, run_cli
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
    ok(via(server, "job", "submit", "failing", "-p", "p", "-g", "1", "--",
           sys.executable, "-c", "raise SystemExit(4)"))
    assert via(server, "job", "logs", "failing", "-p", "p", "--follow").code == 4
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
    # another project's volume is as missing as one that does not exist
    assert denied.err == "error: volume 'b-vol' not found\n"
    assert via(server, "volume", "delete", "nope", token=alice).err == \
        "error: volume 'nope' not found\n"
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


def _make_run_options() -> list[str]:
    """The ``server start`` options of ``make run``, as the Makefile has them (any port)."""
    cmd = make_run(0)[-1]
    return cmd[cmd.index("start") + 1:]


def _admins(server: Server, token: str) -> list[dict]:
    listed = ok(via(server, "token", "list", "--json", token=token)).json()
    return [t for t in listed if t["role"] == "admin"]


def test_the_admin_token_is_issued_once_and_rotated_on_request(home: Path) -> None:
    options = _make_run_options()
    assert "--admin-token" not in options  # else every `make run` would issue one
    first = start_server(home, args=options, env=LOCAL)
    try:
        assert first.token is not None
        assert f"dashboard: {first.url}/#token={first.token}\n" in first.lines
    finally:
        assert first.stop() == 0
    second = start_server(home, args=options, env=LOCAL)  # `make run` again
    try:
        assert second.token is None
        assert second.lines[0] == ("admin token: issued before, not shown again (a new one: "
                                   f"mlfabric --home {home} token create --admin)\n")
        assert f"dashboard: {second.url}/\n" in second.lines
        [admin] = _admins(second, first.token)  # the first still works, and is the only one
        assert admin["origin"] == "server" and admin["user"] == "admin"
        ops = ok(run_cli(home, "token", "create", "--user", "ops", "--role", "admin"))
        ops_secret = ops.out.strip().splitlines()[-1]
    finally:
        assert second.stop() == 0
    third = start_server(home, args=["--admin-token"], env=LOCAL)
    try:
        assert third.token is not None and third.token != first.token
        assert via(third, "volume", "list", token=first.token).err == \
            "error: invalid or revoked token\n"
        assert {t["user"] for t in _admins(third, ops_secret)} == {"admin", "ops"}
    finally:
        assert third.stop() == 0


def test_a_first_start_that_cannot_listen_issues_no_token(home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = str(busy.getsockname()[1])
        r = run_cli(home, "server", "start", "--demo", "--port", port)
    assert r.code == 1 and r.err.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert r.out == ""  # no token printed: none was issued
    assert tokens.list(include_revoked=True, home=str(home)) == []
    assert volumes.list(home=str(home)) == []  # nor the demo seeded
    s = start_server(home, env=LOCAL)
    try:
        assert s.token is not None
        assert len(_admins(s, s.token)) == 1
    finally:
        assert s.stop() == 0


def test_token_create_admin_recovers_access_locally_only(server: Server) -> None:
    refused = via(server, "token", "create", "--admin")
    assert refused.code == 1 and refused.out == ""
    assert refused.err == ("error: token create --admin works on the home directly: run it "
                           "on the server's machine with MLFABRIC_SERVER unset\n")
    for args, err in ((["--admin", "--role", "member"], "--admin makes an admin token, not "
                                                          "a member one"),
                      (["-p", "p"], "token create needs --user (or --admin)")):
        r = run_cli(server.home, "token", "create", *args)
        assert (r.code, r.err) == (1, f"error: {err}\n")
    created = ok(run_cli(server.home, "token", "create", "--admin"))
    said, secret = created.out.splitlines()
    assert said == "created token 2 for admin (admin); its secret, shown once:"
    assert secret.startswith("mlf_")
    listed = ok(via(server, "token", "list", "--json", token=secret)).json()
    assert [(t["id"], t["origin"]) for t in listed] == [(1, "server"), (2, None)]
    assert set(listed[1]) == {"id", "user", "role", "projects", "prefix", "created_at",
                              "expires_at", "last_used_at", "revoked_at", "origin", "secret"}
    assert listed[1]["last_used_at"] is not None and listed[0]["last_used_at"] is None
    assert listed[1]["secret"] is None and listed[1]["expires_at"] is None


def test_tokens_with_a_ttl_expire(server: Server) -> None:
    ok(via(server, "project", "create", "p", "--quota", "1"))
    hour = ok(via(server, "--json", "token", "create", "--user", "a", "-p", "p", "--ttl",
                  "1h")).json()  # the ttl crosses the wire
    created, expires = (dt.datetime.fromisoformat(hour[k]) for k in ("created_at",
                                                                     "expires_at"))
    assert (expires - created).total_seconds() == 3600
    ok(via(server, "job", "list", token=hour["secret"]))
    short = ok(run_cli(server.home, "token", "create", "--user", "b", "-p", "p", "--ttl",
                       "1s"))
    said, secret = short.out.splitlines()
    assert ", expires " in said
    time.sleep(1.1)
    expired = via(server, "job", "list", token=secret)
    assert expired.code == 1 and expired.err == "error: expired token\n"
    listed = ok(via(server, "token", "list")).out
    assert " a " in listed and " b " not in listed  # expired: listed with --all only
    everything = ok(via(server, "token", "list", "--all", "--json")).json()
    assert [t["user"] for t in everything] == ["admin", "a", "b"]
    assert all(t["expires_at"] for t in everything[1:])
    bad = via(server, "token", "create", "--user", "c", "-p", "p", "--ttl", "soon")
    assert bad.code == 1 and bad.err == run_cli(server.home, "token", "create", "--user", "c",
                                                "-p", "p", "--ttl", "soon").err


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_out_of_range_is_one_line(home: Path, port: str) -> None:
    r = run_cli(home, "server", "start", "--port", port, process=True)
    assert r.code == 1, r
    assert r.err == f"error: --port {port}: a port is a number from 0 to 65535\n"
    assert r.out == ""
