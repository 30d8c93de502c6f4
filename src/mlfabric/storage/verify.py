"""``verify [VOLUME]``: re-hash every object committed snapshots need; quarantine damaged
ones so they are never served, and name the snapshots and files affected."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from mlfabric.catalog import schema
from mlfabric.errors import CorruptData
from mlfabric.names import validate_name
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage.drivers import driver_of
from mlfabric.storage.manifest import Manifest
from mlfabric.storage.records import DamagedSnapshot, VerifyReport
from mlfabric.storage.scan import forget_objects
from mlfabric.storage.service import open_storage


def verify(volume: str | None = None, *, home: str | None = None,
           progress: Progress = NO_PROGRESS) -> VerifyReport:
    """Check that every snapshot (of ``volume``, or all) can be restored byte for byte."""
    if volume is not None:
        validate_name(volume, "volume name")
    st = open_storage(home)

    def _q(conn):  # type: ignore[no-untyped-def]
        vq = select(schema.volumes)
        if volume is not None:
            st.volume_row(conn, volume)
            vq = vq.where(schema.volumes.c.name == volume)
        vols = {r.id: r for r in conn.execute(vq)}
        snaps = conn.execute(select(schema.snapshots).where(
            schema.snapshots.c.volume_id.in_(list(vols)))).all()
        return vols, snaps

    with st.locked():
        vols, snaps = st.catalog.run_read(_q)
        needed: dict[str, list[tuple[str, str]]] = defaultdict(list)  # oid -> [(snap, path)]
        sizes: dict[str, int] = {}
        damaged: dict[str, list[str]] = defaultdict(list)
        warnings: list[str] = []
        for snap in snaps:
            vol = vols[snap.volume_id]
            ref = f"{vol.name}@{snap.name}"
            driver = driver_of(vol.driver)
            damaged[ref] += driver.check_snapshot(st, vol, snap)
            if not snap.manifest_oid:
                continue
            # What the driver keeps in the store for this snapshot (the manifest, and for
            # the local driver every file's object) is checked here, whatever the driver.
            needed[snap.manifest_oid].append((ref, "<manifest>"))
            try:
                manifest = Manifest.from_bytes(st.objects.read_bytes(snap.manifest_oid))
                in_store = driver.object_ids(st, snap)
            except (CorruptData, FileNotFoundError):
                continue  # the manifest object itself is reported below
            for e in manifest.files:
                if e.ref in in_store:
                    needed[e.ref].append((ref, e.path))
                    sizes[e.ref] = e.size
        for vol in vols.values():
            if not st.volume_path(vol.name).is_dir():
                warnings.append(f"volume '{vol.name}': data directory is missing")

        missing: list[str] = []
        corrupt: list[str] = []
        quarantined: list[str] = []
        progress.start("verifying", sum(sizes.values()))
        for oid in sorted(needed):
            actual = st.objects.hash_file(oid)
            if actual is None:
                missing.append(oid)
            elif actual != oid:
                corrupt.append(oid)
                if st.objects.quarantine(oid):
                    quarantined.append(oid)
            progress.advance(1, sizes.get(oid, 0))
        progress.finish()
        for oid in missing + corrupt:
            for ref, p in needed[oid]:
                damaged[ref].append(p)
        if quarantined:
            forget_objects(st.config.index_dir, set(quarantined))
    report = [DamagedSnapshot(ref, sorted(set(paths))) for ref, paths in sorted(damaged.items())
              if paths]
    return VerifyReport(ok=not report and not warnings, snapshots_checked=len(snaps),
                        objects_checked=len(needed), missing_objects=missing,
                        corrupt_objects=corrupt, quarantined=quarantined,
                        damaged_snapshots=report, warnings=warnings)
