"""Runs kept in a results volume: ``runs/ID/`` holds LoadGen's logs and ``result.json``.
A volume, so results are snapshotted, cloned and shared like any data."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

from mlfabric.apps.edgebench.records import RunResult
from mlfabric.errors import NotFound

RESULTS = "edgebench-results"
RESULT_FILE = "result.json"


def run_folder(results: str, label: str, *, home: str | None = None) -> tuple[str, Path]:
    """A new run id and its empty folder in the results volume (made on first use)."""
    from mlfabric import volumes

    try:
        root = Path(volumes.path(results, home=home))
    except NotFound:
        volumes.create(results, home=home)
        root = Path(volumes.path(results, home=home))
    run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{label}-{secrets.token_hex(2)}"
    folder = root / "runs" / run_id
    folder.mkdir(parents=True)
    return run_id, folder


def save(result: RunResult, folder: Path) -> None:
    tmp = folder / (RESULT_FILE + ".tmp")
    tmp.write_text(json.dumps(result.to_dict() | {"started_at": result.started_at}, indent=1))
    os.replace(tmp, folder / RESULT_FILE)


def list_results(*, results: str = RESULTS, scenario: str | None = None,
                 home: str | None = None) -> list[RunResult]:
    """Every stored run, oldest first (none when the results volume does not exist yet)."""
    from mlfabric import volumes

    try:
        root = Path(volumes.path(results, home=home)) / "runs"
    except NotFound:
        return []
    out = []
    for f in sorted(root.glob(f"*/{RESULT_FILE}")):
        try:
            r = RunResult(**json.loads(f.read_text()))
        except (OSError, ValueError, TypeError):
            continue  # a run interrupted while writing: its logs stay, it is not listed
        if scenario is None or r.scenario == scenario:
            out.append(r)
    return sorted(out, key=lambda r: r.started_at)
