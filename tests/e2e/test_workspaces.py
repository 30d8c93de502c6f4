"""A workspace end to end with a real JupyterLab on the ``local`` runtime, through the CLI:
create, log in with the password, write through the contents API, see the file in the
volume; snapshot, modify, restore; clone; stop and delete leave no process behind."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mlfabric import proctree, projects
from tests.helpers import Result, run_cli

LOCAL = {"MLFABRIC_RUNTIME": "local", "MLFABRIC_PREEMPT_GRACE": "5s"}
PASSWORD = "correct horse battery staple"


def ok(home: Path, *args: str, input: str | None = None) -> Result:
    r = run_cli(home, *args, env=LOCAL, input=input)
    assert r.code == 0, f"{args}: {r.err}"
    return r


def ours(home: Path) -> list[proctree.Proc]:
    """Every process whose command line mentions this test's home (launchers, JupyterLab,
    kernels: their connection files live under it)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            started = proctree.start_time(int(entry))
            if str(home).encode() in cmdline and started is not None:
                found.append((int(entry), started))
    return found


def tree(home: Path, project: str, job: str) -> list[proctree.Proc]:
    """A running job's processes and all their descendants."""
    info = ok(home, "job", "get", job, "-p", project, "--json").json()
    out: list[proctree.Proc] = []
    for pid in info["pids"]:
        started = proctree.start_time(pid)
        assert started is not None, f"job {project}/{job}: pid {pid} is not running"
        out += [(pid, started), *proctree.descendants(pid)]
    return out


@pytest.fixture
def ws_home(home: Path) -> Iterator[Path]:
    """A home whose processes are all killed at the end, whatever the test did."""
    yield home
    for pid, _ in proctree.alive(ours(home)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


class Jupyter:
    """An httpx session against one workspace's JupyterLab, logged in with the password."""

    def __init__(self, url: str) -> None:
        self.base = url.rsplit("/lab", 1)[0]
        self.http = httpx.Client(base_url=self.base, timeout=30)

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.http.get("/login")  # 200, or 302 for a session from before a restart
                return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"JupyterLab at {self.base} never answered"
            time.sleep(0.2)

    def login(self, password: str) -> int:
        xsrf = self.http.cookies.get("_xsrf") or ""
        return self.http.post("/login", data={"password": password, "_xsrf": xsrf}).status_code

    def _headers(self) -> dict[str, str]:
        return {"X-XSRFToken": self.http.cookies.get("_xsrf") or ""}

    def put(self, path: str, text: str) -> None:
        r = self.http.put(f"/api/contents/{path}", headers=self._headers(),
                          json={"type": "file", "format": "text", "content": text})
        assert r.status_code in (200, 201), r.text

    def get(self, path: str) -> dict:
        r = self.http.get(f"/api/contents/{path}")
        assert r.status_code == 200, r.text
        return r.json()

    def start_kernel(self) -> str:
        r = self.http.post("/api/kernels", headers=self._headers(), json={"name": "python3"})
        assert r.status_code == 201, r.text
        return r.json()["id"]


@pytest.fixture
def jupyter() -> Iterator[Callable[[str], Jupyter]]:
    """Open sessions to JupyterLab URLs; all are closed at the end."""
    opened: list[Jupyter] = []

    def _open(url: str) -> Jupyter:
        opened.append(Jupyter(url))
        return opened[-1]

    yield _open
    for session in opened:
        session.http.close()


def listens_on_loopback_only(port: int) -> bool:
    """Whether the one listening socket on ``port`` is bound to 127.0.0.1."""
    bound = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, _, hexport = local.partition(":")
                if int(hexport, 16) == port and state == "0A":
                    bound.append(addr)
    return bound == ["0100007F"]


def secret_anywhere(secret: bytes) -> list[str]:
    """Processes whose command line or environment holds ``secret``."""
    hits = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            for what in ("cmdline", "environ"):
                with contextlib.suppress(OSError):
                    if secret in Path(f"/proc/{entry}/{what}").read_bytes():
                        hits.append(f"{entry}/{what}")
    return hits


def test_workspace_end_to_end(ws_home: Path, tmp_path: Path,
                              jupyter: Callable[[str], Jupyter]) -> None:
    home = ws_home
    ok(home, "node", "add", "n1", "--gpus", "1")
    ok(home, "project", "create", "team-a", "--quota", "1")
    ok(home, "volume", "create", "refdata")
    (home / "volumes" / "refdata" / "labels.csv").write_text("cat,1\n")
    ok(home, "remote", "add", "lake", str(tmp_path / "lake"))
    ok(home, "dataset", "push", "refdata", "--name", "pets", "--remote", "lake")

    # create: the password comes from stdin, the URL is printed
    made = ok(home, "workspace", "create", "nb", "-p", "team-a", "-g", "0.5",
              "--volume", "refdata:/data", "--dataset", "pets:v1", "--password-stdin",
              input=PASSWORD + "\n")
    url = made.out.split("url: ", 1)[1].split()[0]
    assert "password" not in made.out
    ws = ok(home, "workspace", "show", "nb", "--json").json()
    assert (ws["state"], ws["url"], ws["host"]) == ("Running", url, "127.0.0.1")
    lab = jupyter(url)
    lab.wait_ready()
    assert listens_on_loopback_only(ws["port"])
    assert lab.login("wrong password") != 302
    assert lab.login(PASSWORD) == 302

    # a file written through Jupyter is in the volume; mounts appear inside the root
    lab.put("notes.txt", "version 1")
    volume = Path(ok(home, "volume", "path", "nb").out.strip())
    assert (volume / "notes.txt").read_text() == "version 1"
    assert [f["name"] for f in lab.get("data")["content"]] == ["labels.csv"]
    assert [f["name"] for f in lab.get("datasets/pets")["content"]] == ["labels.csv"]
    lab.start_kernel()
    time.sleep(1.0)  # the launcher records its descendants twice a second
    first = tree(home, "team-a", "ws-nb")
    servers = [p for p in first if b"jupyterlab" in Path(f"/proc/{p[0]}/cmdline").read_bytes()]
    assert len(servers) == 1 and len(first) >= 4  # runtime launcher, ours, JupyterLab, kernel
    cmdline = Path(f"/proc/{servers[0][0]}/cmdline").read_bytes().split(b"\0")
    # JupyterLab runs confined, as its project's uid: never as root, so no --allow-root
    assert b"--no-browser" in cmdline and b"--allow-root" not in cmdline
    uid = projects.show("team-a", home=str(home)).uid
    assert uid is not None and os.stat(f"/proc/{servers[0][0]}").st_uid == uid
    assert secret_anywhere(PASSWORD.encode()) == []

    # snapshot, modify, restore: the file is back, the old processes are all gone
    ok(home, "workspace", "snapshot", "nb", "--name", "before")
    lab.put("notes.txt", "version 2")
    lab.put("scratch.txt", "temporary")
    restored = ok(home, "workspace", "restore", "nb@before", "--json").json()
    assert proctree.alive(first) == []
    assert restored["state"] == "Running" and restored["url"] == url
    assert (volume / "notes.txt").read_text() == "version 1"
    assert not (volume / "scratch.txt").exists()
    lab.wait_ready()
    assert lab.login(PASSWORD) == 302
    assert lab.get("notes.txt")["content"] == "version 1"

    # clone: the clone has the file; a killed launcher still leaves nothing after stop
    cloned = ok(home, "workspace", "clone", "copy", "--from", "nb@before", "--json").json()
    assert cloned["password"] and cloned["port"] != ws["port"]
    assert (Path(ok(home, "volume", "path", "copy").out.strip()) / "notes.txt").read_text() \
        == "version 1"
    copy = jupyter(cloned["url"])
    copy.wait_ready()
    assert copy.login(cloned["password"]) == 302
    assert copy.get("notes.txt")["content"] == "version 1"
    copy.start_kernel()
    time.sleep(1.0)
    copied = tree(home, "team-a", "ws-copy")
    launcher = next(p for p in copied
                    if b"mlfabric.workspaces.launch" in
                    Path(f"/proc/{p[0]}/cmdline").read_bytes().split(b"\0")[2])
    os.kill(launcher[0], signal.SIGKILL)
    assert ok(home, "workspace", "stop", "copy", "--json").json()["state"] == "Stopped"
    assert proctree.alive(copied) == []

    # delete: no JupyterLab (nor anything else of ours) is left
    second = tree(home, "team-a", "ws-nb")
    ok(home, "workspace", "delete", "copy")
    ok(home, "workspace", "delete", "nb")
    assert proctree.alive(second) == []
    assert ours(home) == []
    assert ok(home, "workspace", "list", "--json").json() == []
    assert [v["name"] for v in ok(home, "volume", "list", "--json").json()] == ["refdata"]
