"""``volume clone NEW --from VOLUME[@SNAP]``: a new volume from a snapshot, with lineage."""

from __future__ import annotations

from sqlalchemy import select

from mlfabric.catalog import schema
from mlfabric.errors import AlreadyExists, InvalidInput
from mlfabric.names import parse_labels, parse_snapshot_ref, validate_name
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage.drivers import driver_of
from mlfabric.storage.materialize import MODES
from mlfabric.storage.records import Volume
from mlfabric.storage.service import open_storage
from mlfabric.storage.snapshot import create_locked, resolve
from mlfabric.storage.volume import insert_volume, remove_orphan_dir

V = schema.volumes


def clone(name: str, source: str, *, mode: str = "auto", labels: list[str] | None = None,
          home: str | None = None, progress: Progress = NO_PROGRESS) -> Volume:
    """Clone ``source`` (``VOLUME`` snapshots it first; ``VOLUME@SNAP`` uses that snapshot).
    ``mode``: auto (reflink, else copy), reflink, copy, or link (read-only, hard links)."""
    validate_name(name, "volume name")
    ref = parse_snapshot_ref(source)
    if mode not in MODES:
        raise InvalidInput(f"invalid mode '{mode}': expected one of {', '.join(MODES)}",
                           field="mode", value=mode)
    label_map = parse_labels(labels)
    st = open_storage(home)
    with st.locked(ref.volume, name):
        if st.catalog.run_read(lambda c: c.execute(select(V.c.id).where(V.c.name == name)).first()):
            raise AlreadyExists("volume", name)
        snap_name = ref.snapshot
        if snap_name is None:
            snap_name = create_locked(st, ref.volume, None, kind="auto", progress=progress).name
        src, snap = resolve(st, ref.volume, snap_name)
        remove_orphan_dir(st, name)
        dest = st.volume_path(name)
        driver = driver_of(src.driver)
        index = driver.clone(st, src, snap, dest, mode, progress)
        try:
            vol = insert_volume(st, name, size_limit=src.size_limit,
                                labels=label_map or dict(src.labels or {}), driver=src.driver,
                                read_only=(mode == "link"), clone_mode=mode,
                                origin_volume=ref.volume, origin_snapshot=snap_name)
        except BaseException:
            remove_orphan_dir(st, name)
            raise
        if index is not None:
            row_id = st.catalog.run_read(lambda c: st.volume_row(c, name).id)
            index.save(st.index_path(row_id))
        return vol
