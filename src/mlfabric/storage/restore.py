"""``snapshot restore VOLUME@SNAP``: a safety snapshot first, so a restore never loses data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlfabric.errors import MlfabricError
from mlfabric.names import SnapshotRef, parse_snapshot_ref
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage.diff import manifest_of
from mlfabric.storage.drivers import driver_of
from mlfabric.storage.manifest import diff_manifests
from mlfabric.storage.records import Restore, RestorePlan
from mlfabric.storage.service import Storage, open_storage
from mlfabric.storage.snapshot import create_locked, resolve


@contextmanager
def _target(ref: str, home: str | None) -> Iterator[tuple[Storage, SnapshotRef, Any, Any]]:
    """The storage, reference, volume and snapshot rows of a restore, under the volume's
    lock; a read-only clone is refused."""
    r = parse_snapshot_ref(ref, require_snapshot=True)
    assert r.snapshot is not None
    st = open_storage(home)
    with st.locked(r.volume):
        vol, snap = resolve(st, r.volume, r.snapshot)
        if vol.read_only:
            raise MlfabricError(f"volume '{vol.name}' is a read-only clone; clone it again "
                                "instead of restoring into it")
        yield st, r, vol, snap


def plan_restore(ref: str, *, safety_snapshot: bool = True, home: str | None = None,
                 progress: Progress = NO_PROGRESS) -> RestorePlan:
    """What ``restore`` would change, changing nothing (the live tree is scanned)."""
    with _target(ref, home) as (st, r, _vol, _snap):
        d = diff_manifests(manifest_of(st, SnapshotRef(r.volume), progress),
                           manifest_of(st, r, progress))
    assert r.snapshot is not None
    return RestorePlan(volume=r.volume, snapshot=r.snapshot,
                       write=sorted(d.added + d.modified), remove=d.deleted,
                       fix_mode=d.mode_changed, safety_snapshot=safety_snapshot)


def restore(ref: str, *, safety_snapshot: bool = True, home: str | None = None,
            progress: Progress = NO_PROGRESS) -> Restore:
    """Make the live volume equal to the snapshot (contents, modes, mtimes)."""
    with _target(ref, home) as (st, r, vol, snap):
        assert r.snapshot is not None
        safety = None
        if safety_snapshot:
            safety = create_locked(st, r.volume, None, kind="safety", prefix="pre-restore",
                                   progress=progress).name
        data = driver_of(vol.driver).restore(st, vol, snap, progress)
        return Restore(volume=r.volume, snapshot=r.snapshot, safety_snapshot=safety,
                       written=data.written, removed=data.removed,
                       metadata_fixed=data.metadata_fixed)
