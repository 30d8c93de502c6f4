"""``workspace snapshot WS`` and ``workspace restore WS@SNAP`` (stop, restore, start)."""

from __future__ import annotations

from mlfabric import snapshots
from mlfabric.errors import InvalidInput
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.workspaces import rows, spec
from mlfabric.workspaces.lifecycle import start_locked, stop_locked
from mlfabric.workspaces.records import Workspace


def snapshot(name: str, *, snapshot: str | None = None, home: str | None = None,
             progress: Progress = NO_PROGRESS) -> snapshots.Snapshot:
    """Snapshot the workspace's volume (while it runs, too); mounted volumes and datasets
    are only links in it, so their data is never part of the snapshot."""
    spec.check_name(name)
    row = rows.read(name, home)
    return snapshots.create(row.volume, name=snapshot, home=home, progress=progress)


def restore(ref: str, *, home: str | None = None,
            progress: Progress = NO_PROGRESS) -> Workspace:
    """Stop the workspace, restore its volume to ``WS@SNAP`` (after a safety snapshot of
    the live files), and start it again if it was running."""
    name, snap = spec.parse_ref(ref)
    if snap is None:
        raise InvalidInput(f"malformed reference '{ref}': expected WORKSPACE@SNAPSHOT",
                           field="ref", value=ref)
    with rows.locked(name, home):
        row = rows.read(name, home)
        target = f"{row.volume}@{snap}"
        snapshots.show(target, home=home)  # NotFound while nothing is stopped yet
        was_running = row.state == rows.RUNNING
        stopped = stop_locked(name, home)
        snapshots.restore(target, home=home, progress=progress)
        return start_locked(name, home) if was_running else stopped
