"""The CLI pays only for what a command needs: ``--help`` imports no noun, and each noun
imports its own stack and nothing heavy it does not use. (Timings are measured against
bare imports in ``bench/cli.py``; this test checks which modules load.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# The URL layer (mlfabric.transfer.urls) is light; the copy machinery is not.
HEAVY = ("fsspec", "torch", "fastapi", "uvicorn", "httpx", "numpy", "yaml", "mlfabric.api.",
         "mlfabric.transfer.sync", "mlfabric.transfer.copier", "mlfabric.transfer.journal",
         "mlfabric.transfer.writers", "mlfabric.transfer.listing", "mlfabric.datasets.fetch",
         "mlfabric.serving.")

PROBE = """
import json, sys
from mlfabric.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _loaded(home: Path, *args: str) -> list[str]:
    r = subprocess.run([sys.executable, "-c", PROBE, "--home", str(home), *args],
                       capture_output=True, text=True, timeout=60)
    return json.loads(r.stderr.strip().splitlines()[-1])


def _heavy(modules: list[str], allowed: tuple[str, ...] = ()) -> list[str]:
    return [m for m in modules if m.startswith(HEAVY) and not m.startswith(allowed)]


def test_help_imports_no_noun(home: Path) -> None:
    loaded = _loaded(home, "--help")
    assert not [m for m in loaded if m.startswith("mlfabric.cli.") and m != "mlfabric.cli.main"]
    assert not [m for m in loaded if m.startswith(("sqlalchemy", "rich"))]
    assert _heavy(loaded) == []


@pytest.mark.parametrize("args", [
    ("volume", "list"), ("snapshot", "list", "nope"), ("project", "list"), ("job", "list"),
    ("dataset", "list"), ("cache", "list"), ("node", "list"), ("remote", "list"),
    ("scheduler", "status"), ("token", "--help"), ("workspace", "--help"),
])
def test_a_noun_loads_nothing_heavy_it_does_not_use(home: Path, args: tuple[str, ...]) -> None:
    loaded = _loaded(home, *args)
    assert _heavy(loaded) == [], args
    others = {m.split(".")[2] for m in loaded if m.startswith("mlfabric.cli.")} - {
        "main", "backend", "options", args[0].replace("-", "_")}
    assert others == set(), f"{args}: also imported the nouns {others}"
