"""``make lint``'s import contracts catch what they promise: planted in a copy of the
tree, an import cycle, an upward import and a front end reaching a private module each
break a contract; the tree as it is keeps them all."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = str(Path(sys.executable).parent / "lint-imports")


def _copy(tmp: Path) -> Path:
    dst = tmp / "tree"
    shutil.copytree(ROOT / "src", dst / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info"))
    shutil.copytree(ROOT / "tools", dst / "tools",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dst / "pyproject.toml")
    return dst


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(tree / "src"), str(tree / "tools/importlint")])}
    return subprocess.run([LINT, "--no-logo", "--no-cache"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)


def _plant(tree: Path, module: str, line: str) -> None:
    path = tree / "src" / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}\n")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy(tmp_path_factory.mktemp("lint"))


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    r = _lint(tree)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "5 kept, 0 broken" in r.stdout


@pytest.mark.parametrize(("what", "plants", "broken"), [
    ("an import cycle", [("mlfabric.units", "import mlfabric.names  # noqa"),
                         ("mlfabric.names", "import mlfabric.units  # noqa")],
     "no import cycle anywhere BROKEN"),
    ("an upward import", [("mlfabric.storage.volume", "import mlfabric.scheduler  # noqa")],
     "a lower layer never imports a higher one BROKEN"),
    ("a private module in a front end",
     [("mlfabric.cli.volume", "import mlfabric.storage.scan  # noqa")],
     "front ends and apps import only public modules BROKEN"),
    ("another app's private module in an app",
     [("mlfabric.apps.faces.cli", "import mlfabric.privacy.noise  # noqa")],
     "front ends and apps import only public modules BROKEN"),
    ("the lake importing the caches",
     [("mlfabric.datasets.lake.push", "import mlfabric.datasets.cache.pool  # noqa")],
     "datasets: the lake and the caches sit side by side on fetch, refs and remotes BROKEN"),
])
def test_lint_catches(tmp_path: Path, what: str, plants: list[tuple[str, str]],
                      broken: str) -> None:
    tree = _copy(tmp_path)
    for module, line in plants:
        _plant(tree, module, line)
    r = _lint(tree)
    assert r.returncode != 0, f"{what} went unnoticed"
    assert broken in r.stdout, r.stdout
