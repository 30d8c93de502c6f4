"""A real ``mlfabric server start`` process on loopback, for API, client-mode and
dashboard tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.helpers import MLFABRIC


@dataclass
class Server:
    home: Path
    proc: subprocess.Popen[str]
    url: str
    token: str | None
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def api(self) -> str:
        return self.url + "/api/v1"

    def client(self, token: str | None = None) -> httpx.Client:
        tok = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        return httpx.Client(base_url=self.api, headers=headers, timeout=60)

    def stop(self) -> int:
        """SIGTERM, as a service manager would; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.reader is not None:
            self.reader.join(5)  # a child still holding the pipe: leave it to the reader
        if self.proc.stdout and (self.reader is None or not self.reader.is_alive()):
            self.proc.stdout.close()
        return self.proc.returncode

    def read_output(self) -> None:
        """Keep what the server prints in ``lines``: a pipe nobody reads fills up (64 KiB,
        a dozen logged tracebacks) and blocks the server at its next write."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)


SIM = {"MLFABRIC_RUNTIME": "sim"}  # jobs placed and recorded, no process started


@contextlib.contextmanager
def demo_server(home: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """A server over a new ``home`` with the demo seeded (simulated jobs unless ``env``
    says otherwise), stopped after; it must stop cleanly."""
    home.mkdir()
    server = start_server(home, demo=True, env=SIM if env is None else env)
    try:
        yield server
    finally:
        assert server.stop() == 0


def start_server(home: Path, *, demo: bool = False, env: dict[str, str] | None = None,
                 token: str | None = None, timeout: float = 60,
                 args: Sequence[str] = ()) -> Server:
    """Start a server over ``home`` on a free port (with more ``server start`` options
    from ``args``); wait until it answers."""
    home.mkdir(parents=True, exist_ok=True)  # as run_cli: --home names an existing folder
    cmd = [MLFABRIC, "--home", str(home), "server", "start", "--port", "0", *args]
    if demo:
        cmd.append("--demo")
    return launch(cmd, home, env=env, token=token, timeout=timeout)


def launch(cmd: Sequence[str], home: Path, *, env: dict[str, str] | None = None,
           cwd: Path | None = None, token: str | None = None, timeout: float = 60) -> Server:
    """Run the server command ``cmd`` over ``home`` (in ``cwd``); wait until it answers.
    ``token``: the admin token when the start does not print one."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("MLFABRIC_SERVER", None)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=full_env, cwd=cwd, start_new_session=True)
    assert proc.stdout is not None
    lines: list[str] = []
    url = None
    deadline = time.monotonic() + timeout
    while url is None:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"server exited early: {''.join(lines)}")
        lines.append(line)
        if line.startswith("admin token (shown once): "):
            token = line.split(": ", 1)[1].strip()
        if line.startswith("api: "):
            url = line.split()[1].removesuffix("/api/v1")
        assert time.monotonic() < deadline, "server did not start"
    server = Server(home, proc, url, token, lines)
    server.reader = threading.Thread(target=server.read_output, daemon=True)
    server.reader.start()
    while True:
        try:
            if httpx.get(url + "/docs", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise AssertionError("server did not answer")
        time.sleep(0.1)
