"""The docs: the mkdocs site builds offline with ``--strict`` (no broken link or anchor,
no page left out of the nav), and the README's tour runs as written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

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


def _tour() -> list[str]:
    text = (ROOT / "README.md").read_text()
    tour = text.split("## A five-minute tour", 1)[1].split("## Documentation", 1)[0]
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", tour, re.S):
        for line in block.splitlines():
            cmd = line.split("  #", 1)[0].strip()
            if cmd and not cmd.startswith(("#", ". .venv")):
                lines.append(cmd)
    return lines


def test_the_readme_tour_runs(tmp_path: Path) -> None:
    commands = _tour()
    assert any(c.startswith("mlfabric job submit") for c in commands)
    data = tmp_path / "datasets" / "imagenet-mini"  # what the tour copies in
    for i in range(5):
        (data / f"class-{i}").mkdir(parents=True)
        (data / f"class-{i}" / "img.jpg").write_bytes(bytes([i]) * 100)
    env = {**os.environ, "HOME": str(tmp_path), "MLFABRIC_HOME": str(tmp_path / "home"),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    for cmd in commands:
        if cmd.startswith("mlfabric server start"):
            p = subprocess.Popen([*shlex.split(cmd), "--port", "0"], cwd=tmp_path, env=env,
                                 text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                lines = [p.stdout.readline() if p.stdout else "" for _ in range(3)]
                assert "admin token" in lines[0] and lines[2].startswith("api: "), lines
            finally:
                p.terminate()  # Ctrl-C's gentler sibling: a clean exit
                assert p.wait(30) == 0
                if p.stdout:
                    p.stdout.close()
            continue
        r = subprocess.run(cmd, shell=True, cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, f"{cmd}: {r.stderr}"
