"""Where a server keeps its files (``$MLFABRIC_HOME/serving/<name>``), and the status
file its launcher writes there for ``inference show`` and ``list`` to read."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from mlfabric.durable import atomic_write

STATUS_FILE = "status.json"
# What the launcher reports in "server"
STARTING, READY, RESTARTING, STOPPED, FAILED = "starting", "ready", "restarting", "stopped", \
    "failed"


def server_dir(home: Path, name: str) -> Path:
    """The folder of one server: staging repository, engine files, status."""
    return home / "serving" / name


def shm_prefix(folder: Path) -> str:
    """The Python backend's shared-memory name prefix for one server: unique per server
    folder, so servers of different homes on one machine never share regions."""
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    return f"mlfabric_{digest}_"


def remove_shm(folder: Path) -> None:
    """Remove shared-memory regions a killed server left in ``/dev/shm``."""
    prefix = shm_prefix(folder)
    shm = Path("/dev/shm")
    if not shm.is_dir():
        return
    for entry in shm.iterdir():
        if entry.name.startswith(prefix):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def write_status(folder: Path, status: dict[str, Any]) -> None:
    """Replace the status file atomically (readers never see half of it)."""
    atomic_write(folder / STATUS_FILE, json.dumps(status, indent=1), durable=False)


def read_status(folder: Path) -> dict[str, Any] | None:
    """The last status the launcher wrote, or None."""
    try:
        return json.loads((folder / STATUS_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
