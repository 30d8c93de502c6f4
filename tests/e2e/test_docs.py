"""The docs: the mkdocs site builds offline with ``--strict`` (no broken link or anchor,
no page left out of the nav), and every command of the README runs as written."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

from tests.helpers import make_run
from tests.server import launch

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_the_site_builds_strict(tmp_path: Path) -> None:
    r = subprocess.run([str(BIN / "mkdocs"), "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                        "-d", str(tmp_path / "site")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "site" / "architecture.html").exists()
    html = (tmp_path / "site" / "index.html").read_text()
    # nothing is fetched from the network to show a page (links to elsewhere are fine)
    assert not re.search(r'src="https?://|<link[^>]+href="https?://', html)


def _readme_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_readme_runs(tmp_path: Path) -> None:
    """Every command of the README's ``sh`` blocks, as written, in a folder like the
    checkout (its ``.venv``): ``make run`` as the Makefile runs it, on a free port, left
    running like the user's other shell; the rest as one shell script. ``make test`` is
    this suite."""
    script: list[str] = []
    make_runs: list[list[str]] = []
    for block in _readme_blocks():
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:2] == ["make", "run"]:
                make_runs.append(words[2:])
            elif words[:2] != ["make", "test"]:
                script.append(line)
    assert make_runs == [[]], "the quick start's plain `make run`"
    assert any(line.startswith("mlfabric job submit") for line in script)
    (tmp_path / ".venv").symlink_to(sys.prefix)  # `. .venv/bin/activate` as in a checkout
    data = tmp_path / "datasets" / "imagenet-mini"  # what the tour copies in
    for i in range(5):
        (data / f"class-{i}").mkdir(parents=True)
        (data / f"class-{i}" / "img.jpg").write_bytes(bytes([i]) * 100)
    env = {"HOME": str(tmp_path)}
    port = _free_port()
    *prepare, cmd = make_run(port)
    assert cmd[-2:] == ["--port", str(port)], f"make run ignores PORT=: {cmd}"
    home = tmp_path / cmd[cmd.index("--home") + 1]
    for step in prepare:  # `mlfabric init`: a home is made on purpose, never by a typo
        subprocess.run(step, cwd=tmp_path, env={**os.environ, **env}, check=True,
                       capture_output=True, timeout=60)
    server = launch(cmd, home, cwd=tmp_path, env=env)
    try:
        assert server.token, "the first start prints an admin token"
        r = subprocess.run(["bash", "-e", "-o", "pipefail", "-x", "-c", "\n".join(script)],
                           cwd=tmp_path, env={**os.environ, **env}, capture_output=True,
                           text=True, timeout=240)
        assert r.returncode == 0, r.stderr[-3000:]
        # What the tour made is what the dashboard of `make run` shows.
        with server.client() as c:
            assert "imagenet" in [v["name"] for v in c.get("/volumes").json()]
            jobs = {j["ref"]: j for j in c.get("/jobs").json()}
            logs = {ref: c.get(f"/jobs/{ref.split('/')[1]}/logs", params={"project": "demo"}
                               ).json() for ref in ("demo/steps", "demo/hello")}
        # The demo's local node ran its job and the tour's: real processes, logged, ended.
        for ref in ("demo/steps", "demo/hello"):
            assert jobs[ref]["runtime"] == "local" and jobs[ref]["state"] == "Succeeded", jobs
        assert "step 4 loss 0.200" in logs["demo/steps"]
        assert "hello from uid" in logs["demo/hello"]
        train = jobs["vision/train"]  # on a simulated node: scheduled, no process
        assert (train["state"], train["runtime"], train["pids"]) == ("Running", "sim", []), train
    finally:
        assert server.stop() == 0, "".join(server.lines)
