"""The public API: every package offers its names lazily through one helper, every name it
lists resolves, ``import mlfabric; mlfabric.snapshots.create(...)`` works, and a public
function wins over a submodule of the same name."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import mlfabric

PUBLIC = ["mlfabric", "mlfabric.volumes", "mlfabric.snapshots", "mlfabric.store",
          "mlfabric.transfer", "mlfabric.remotes", "mlfabric.datasets", "mlfabric.caches",
          "mlfabric.datasets.cache", "mlfabric.nodes", "mlfabric.projects", "mlfabric.jobs",
          "mlfabric.tokens", "mlfabric.auth", "mlfabric.scheduler", "mlfabric.storage",
          "mlfabric.workspaces", "mlfabric.serving", "mlfabric.privacy", "mlfabric.web",
          "mlfabric.api", "mlfabric.apps.faces", "mlfabric.apps.edgebench"]


@pytest.mark.parametrize("name", PUBLIC)
def test_every_listed_name_resolves(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    assert sorted(dir(module)) == sorted(module.__all__) or name == "mlfabric"
    for attr in module.__all__:
        assert getattr(module, attr) is not None, f"{name}.{attr}"
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018


def test_import_mlfabric_then_use_a_noun(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    vol = mlfabric.volumes.create("v", home=home)
    (Path(vol.path) / "f.txt").write_text("x")
    snap = mlfabric.snapshots.create("v", name="s1", home=home)
    assert (snap.ref, snap.files) == ("v@s1", 1)
    assert [s.name for s in mlfabric.snapshots.list("v", home=home)] == ["s1"]


def test_a_function_wins_over_its_module_of_the_same_name() -> None:
    import mlfabric.datasets.cache.add  # noqa: F401 - the module, imported first
    from mlfabric import caches, transfer

    assert callable(caches.add) and caches.add.__name__ == "add"
    assert transfer.sync.__module__ == "mlfabric.transfer.sync" and callable(transfer.sync)


def test_importing_a_package_loads_none_of_its_modules() -> None:
    code = ("import sys, mlfabric, mlfabric.volumes, mlfabric.datasets, mlfabric.jobs; "
            "print(sorted(m for m in sys.modules if m.startswith('mlfabric.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = eval(out)  # a printed list of module names
    assert not [m for m in loaded if m.startswith(("mlfabric.storage.", "mlfabric.scheduler.",
                                                   "mlfabric.datasets."))], loaded
