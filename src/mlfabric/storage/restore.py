"""``snapshot restore VOLUME@SNAP``: a safety snapshot first, so a restore never loses data."""

from __future__ import annotations

from mlfabric.errors import MlfabricError
from mlfabric.names import parse_snapshot_ref
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage.drivers import driver_of
from mlfabric.storage.records import Restore
from mlfabric.storage.service import open_storage
from mlfabric.storage.snapshot import create_locked, resolve


def restore(ref: str, *, safety_snapshot: bool = True, home: str | None = None,
            progress: Progress = NO_PROGRESS) -> Restore:
    """Make the live volume equal to the snapshot (contents, modes, mtimes)."""
    r = parse_snapshot_ref(ref, require_snapshot=True)
    assert r.snapshot is not None
    st = open_storage(home)
    with st.locked(r.volume):
        vol, snap = resolve(st, r.volume, r.snapshot)
        if vol.read_only:
            raise MlfabricError(f"volume '{r.volume}' is a read-only clone; clone it again "
                                "instead of restoring into it")
        safety = None
        if safety_snapshot:
            safety = create_locked(st, r.volume, None, kind="safety", prefix="pre-restore",
                                   progress=progress).name
        data = driver_of(vol.driver).restore(st, vol, snap, progress)
        return Restore(volume=r.volume, snapshot=r.snapshot, safety_snapshot=safety,
                       written=data.written, removed=data.removed,
                       metadata_fixed=data.metadata_fixed)
