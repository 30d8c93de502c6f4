"""The sandbox policy (pure): what a confined job's command line binds, read-only or not,
which variables it keeps, and how it drops to the project's uid."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from mlfabric.scheduler import sandbox
from mlfabric.scheduler.sandbox import Grant, enter, system_paths, wrap


def binds(cmd: list[str], flag: str) -> list[str]:
    return [cmd[i + 1] for i, a in enumerate(cmd) if a == flag]


GRANT = Grant(uid=200_003, gid=200_003, workdir="/h/jobs/a/j/work",
              rw=("/h/jobs/a/j", "/h/volumes/data"), ro=("/h/cache/default/entries/ds/v1",),
              env={"RANK": "0", "MLFABRIC_VOLUME_DATA": "/h/volumes/data"})


@pytest.mark.parametrize("as_root", [True, False])
def test_binds_only_what_is_granted(as_root: bool) -> None:
    cmd = wrap(GRANT, ["python", "train.py"], as_root=as_root)
    assert binds(cmd, "--bind") == ["/h/jobs/a/j", "/h/volumes/data"]
    ro = binds(cmd, "--ro-bind")
    assert "/h/cache/default/entries/ds/v1" in ro and "/usr" in ro
    assert not [p for p in ro + binds(cmd, "--bind") if p in ("/", "/root", "/home", "/h")]
    assert "/etc/shadow" not in ro and not [p for p in ro if p.startswith("/etc/ssh")]
    assert set(ro) >= set(system_paths())
    assert cmd[-2:] == ["python", "train.py"]
    for flag in ("--unshare-pid", "--unshare-ipc", "--clearenv", "--tmpfs"):
        assert flag in cmd
    assert "--unshare-net" not in cmd  # gangs talk over loopback, servers are reached


def test_as_root_it_drops_to_the_project_uid_with_no_capabilities() -> None:
    cmd = wrap(GRANT, ["true"], as_root=True)
    tail = cmd[cmd.index("--") + 1:]
    assert tail[0] == "setpriv" and "--reuid=200003" in tail and "--regid=200003" in tail
    assert {"--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
            "--no-new-privs"} <= set(tail)
    caps = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--cap-add"]
    assert caps == ["CAP_SETUID", "CAP_SETGID"]  # only for setpriv, which drops them
    assert "--unshare-user" not in cmd


def test_as_a_user_it_makes_a_user_namespace() -> None:
    cmd = wrap(GRANT, ["true"], as_root=False)
    assert "--unshare-user" in cmd and "setpriv" not in cmd and "--cap-add" not in cmd


def test_only_the_jobs_variables_and_a_few_of_the_hosts(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    monkeypatch.setenv("MLFABRIC_TOKEN", "mlf_secret")
    monkeypatch.setenv("LANG", "C.UTF-8")
    cmd = wrap(GRANT, ["true"], as_root=True)
    env = dict(zip(binds(cmd, "--setenv"), [cmd[i + 2] for i, a in enumerate(cmd)
                                            if a == "--setenv"], strict=True))
    assert env["RANK"] == "0" and env["HOME"] == GRANT.workdir and env["LANG"] == "C.UTF-8"
    assert "AWS_SECRET_ACCESS_KEY" not in env and "MLFABRIC_TOKEN" not in env
    assert "MLFABRIC_HOME" not in env


def test_parents_of_binds_are_made_traversable() -> None:
    cmd = wrap(GRANT, ["true"], as_root=True)
    made = [cmd[i + 3] for i, a in enumerate(cmd) if a == "--perms" and cmd[i + 2] == "--dir"]
    assert {"/h", "/h/jobs", "/h/jobs/a", "/h/volumes"} <= set(made)
    assert "/h/volumes/data" not in made  # bound, not made


def test_exec_enters_the_namespaces_and_drops_too() -> None:
    cmd = enter(4242, GRANT, ["id", "-u"], as_root=True)
    assert cmd[:2] == ["nsenter", "--target=4242"] and "--mount" in cmd and "--pid" in cmd
    assert "--reuid=200003" in cmd and cmd[-2:] == ["id", "-u"]
    assert cmd[cmd.index("-C") + 1] == GRANT.workdir  # changed to inside, not on the host
    user = enter(4242, GRANT, ["id"], as_root=False)
    assert "--user" in user and "setpriv" not in user


def test_the_unsafe_opt_out_is_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sandbox.UNSAFE_ENV, raising=False)
    assert not sandbox.unsafe()
    for value in ("1", "yes", "true"):
        monkeypatch.setenv(sandbox.UNSAFE_ENV, value)
        assert sandbox.unsafe()
    monkeypatch.setenv(sandbox.UNSAFE_ENV, "0")
    assert not sandbox.unsafe()
    assert os.environ[sandbox.UNSAFE_ENV] == "0"


def test_dev_shm_is_private_unless_a_service_shares_the_hosts() -> None:
    private = wrap(GRANT, ["true"], as_root=True)
    assert "/dev/shm" in binds(private, "--tmpfs") and "/dev/shm" not in binds(private, "--bind")
    shared = wrap(replace(GRANT, host_shm=True), ["true"], as_root=True)
    assert "/dev/shm" not in binds(shared, "--tmpfs")
    assert binds(shared, "--bind")[0] == "/dev/shm"  # at its own path, read-write
    assert "/tmp" in binds(shared, "--tmpfs")
