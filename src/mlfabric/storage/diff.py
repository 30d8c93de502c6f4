"""``snapshot diff VOLUME@A VOLUME@B`` or ``VOLUME@A VOLUME`` (the live tree)."""

from __future__ import annotations

from mlfabric.names import SnapshotRef, parse_snapshot_ref
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage.drivers import driver_of
from mlfabric.storage.manifest import Manifest, diff_manifests
from mlfabric.storage.records import Diff
from mlfabric.storage.service import Storage, open_storage
from mlfabric.storage.snapshot import resolve


def manifest_of(st: Storage, ref: SnapshotRef, progress: Progress = NO_PROGRESS) -> Manifest:
    """The manifest of a snapshot, or of the live tree when ``ref`` has no snapshot."""
    if ref.snapshot is None:
        vol = st.catalog.run_read(lambda c: st.volume_row(c, ref.volume))
        return driver_of(vol.driver).live_manifest(st, vol, progress)
    vol, snap = resolve(st, ref.volume, ref.snapshot)
    return driver_of(vol.driver).manifest(st, vol, snap)


def diff(old: str, new: str, *, home: str | None = None,
         progress: Progress = NO_PROGRESS) -> Diff:
    """Added, deleted, modified and mode-changed paths from ``old`` to ``new``."""
    a = parse_snapshot_ref(old, require_snapshot=True)
    b = parse_snapshot_ref(new)
    st = open_storage(home)
    with st.locked(*{a.volume, b.volume}):
        d = diff_manifests(manifest_of(st, a, progress), manifest_of(st, b, progress))
    return Diff(old=str(a), new=str(b), added=d.added, deleted=d.deleted, modified=d.modified,
                mode_changed=d.mode_changed)
