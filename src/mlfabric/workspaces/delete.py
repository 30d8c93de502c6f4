"""``workspace delete WS [--keep-volume]``: stop it, then drop its volume, files and row."""

from __future__ import annotations

import contextlib

from mlfabric import volumes as vols
from mlfabric.errors import NotFound
from mlfabric.workspaces import rows, spec
from mlfabric.workspaces.jupyter_config import remove_files
from mlfabric.workspaces.lifecycle import stop_locked
from mlfabric.workspaces.records import Workspace


def delete(name: str, *, keep_volume: bool = False, home: str | None = None) -> Workspace:
    """Delete a workspace: its JupyterLab stops, its volume goes (with its snapshots)
    unless ``keep_volume``; returns the workspace as it was last."""
    spec.check_name(name)
    with rows.locked(name, home):
        ws = stop_locked(name, home)
        if not keep_volume:
            with contextlib.suppress(NotFound):  # gone already: only the row is left
                vols.delete(ws.volume, force=True, home=home)
        remove_files(name, home)
        rows.remove(name, home)
        return ws
