"""The faces walkthrough of ``docs/privacy.md`` (batch, then served) runs as written, in a
fresh home, with small sizes added to the commands that train or fit: every file a step
uses (the detector, ``noise.pt``, ``photo.jpg``) is made by an earlier step, and the
project it submits to is created by it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.component.test_serving import kill_leftovers
from tests.e2e.test_faces_cli import AP_LINES

DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"
BIN = Path(sys.executable).parent
# What the test adds to a command (options after the ones written; the last one given
# wins): the walkthrough's sizes take minutes, these seconds, through the same steps. The
# served size shrinks alike for the noise, the exported tail and the client.
SMALL = {"faces make-dataset": "--images 20 --size 128",
         "faces train": "--size 128 --epochs 1 --batch-size 8 --limit 2",
         "faces eval": "--limit 2 --fit-epochs 1 --size 256",
         "faces export-tail": "--size 256",
         "faces detect-remote": "--size 256"}


def walkthrough() -> list[str]:
    """The code blocks of the deployment scenarios, as shell lines, with SMALL added."""
    text = DOC.read_text()
    section = text.split("## Three deployment scenarios", 1)[1].split("\n### ", 1)[0]
    lines = []
    for _, block in re.findall(r"^( *)```(?:sh)?\n(.*?)^\1```", section, re.M | re.S):
        for line in textwrap.dedent(block).splitlines():
            command, hash_, comment = line.partition("  #")
            for words, extra in SMALL.items():
                if words in command:
                    command = f"{command.rstrip()} {extra}"
            lines.append(command + (f"  {hash_}{comment}" if hash_ else ""))
    return lines


@pytest.fixture
def served_home(local_home: Path) -> Iterator[Path]:
    """A fresh home; the inference server the walkthrough starts dies with the test."""
    yield local_home
    kill_leftovers(local_home)


def test_the_faces_walkthrough_runs_as_written(served_home: Path, tmp_path: Path) -> None:
    lines = walkthrough()
    assert any("--noise noise.pt" in line for line in lines)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "MLFABRIC_HOME": str(served_home),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFABRIC_SERVER", None)
    r = subprocess.run(["bash", "-e", "-o", "pipefail", "-x", "-c", "\n".join(lines)],
                       cwd=work, env=env, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr[-4000:]
    # The batch job's log (followed to its end) closes with the per-fold AP lines.
    ap = [line for line in r.stdout.splitlines() if re.match(r"(Fddb|mAP)", line)]
    assert all(re.fullmatch(p, line) for p, line in zip(AP_LINES, ap[:4], strict=True)), \
        r.stdout
    assert (work / "noise.pt").is_file() and (work / "photo.jpg").is_file()
    # detect-remote said it sent the noisy activation, to the server the walkthrough made
    assert re.search(r"with learned noise \(alpha 0\.6, .*from noise\.pt\) to "
                     r"http://127\.0\.0\.1:\d+ \(model faceboxes-tail\)", r.stderr), r.stderr
