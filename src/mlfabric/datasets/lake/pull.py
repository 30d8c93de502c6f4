"""``dataset pull DS:VERSION --into VOLUME``: a new volume with a version's content.

Objects the home's store lacks are fetched (verified) first; the volume directory is then
filled and becomes visible only when its catalog row commits, so a failed pull leaves
nothing behind but verified objects (reused by the next pull, reclaimed by ``gc``).
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, select

from mlfabric.catalog import schema
from mlfabric.datasets import DEFAULT_WORKERS
from mlfabric.datasets.fetch import check_workers, fetch_objects, load_manifest
from mlfabric.datasets.records import Pull
from mlfabric.datasets.refs import resolve
from mlfabric.datasets.remote import lake_of
from mlfabric.errors import AlreadyExists
from mlfabric.home import open_home
from mlfabric.names import parse_version_ref, validate_name
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage.drivers import default_driver, driver_of
from mlfabric.storage.fsops import fs_now_ns
from mlfabric.storage.manifest import Manifest
from mlfabric.storage.materialize import apply_tree, plan_tree
from mlfabric.storage.scan import StatIndex, smudge
from mlfabric.storage.service import storage_of
from mlfabric.storage.volume import insert_volume, remove_orphan_dir

V, P = schema.volumes, schema.dataset_pulls


def pull(ref: str, *, into: str, workers: int = DEFAULT_WORKERS, home: str | None = None,
         progress: Progress = NO_PROGRESS) -> Pull:
    """Create volume ``into`` holding dataset version ``ref`` (``DS:VERSION`` or ``DS``
    for the latest), byte-identical to the snapshot it was pushed from."""
    r = parse_version_ref(ref)
    validate_name(into, "volume name")
    check_workers(workers)
    st = storage_of(open_home(home))
    found = resolve(st.home, r)
    if st.catalog.run_read(lambda c: c.execute(select(V.c.id).where(V.c.name == into)).first()):
        raise AlreadyExists("volume", into)
    rstore = lake_of(found.remote)
    rstore.check()
    with st.locked(into):
        if st.catalog.run_read(lambda c: c.execute(select(V.c.id)
                                                   .where(V.c.name == into)).first()):
            raise AlreadyExists("volume", into)
        manifest = load_manifest(rstore, st.objects, found.version.manifest_oid, found.ref)
        wanted = {e.ref: e.size for e in manifest.files}
        fetched, fetched_bytes = fetch_objects(rstore, st.objects, wanted, workers=workers,
                                               progress=progress)
        remove_orphan_dir(st, into)
        driver_name = default_driver(st.config)
        path = st.volume_path(into)
        driver_of(driver_name).create_volume(st, path)
        try:
            rows = apply_tree(path, plan_tree(Manifest(), manifest), st.objects, mode="auto",
                              progress=progress)
            vol = insert_volume(st, into, size_limit=None, labels={"dataset": found.ref},
                                driver=driver_name, read_only=False)
        except BaseException:
            remove_orphan_dir(st, into)
            raise

        def _lineage(conn: Connection) -> int:
            conn.execute(P.insert().values(dataset=found.dataset.name,
                                           version=found.version.version, volume=into,
                                           pulled_at=time.time()))
            return st.volume_row(conn, into).id

        vol_id = st.catalog.run_write(_lineage)
        if driver_name == "local":
            # Like a clone: the first snapshot of the new volume reads nothing.
            StatIndex(smudge(rows, fs_now_ns(st.config.tmp_dir)),
                      manifest_oid=found.version.manifest_oid).save(st.index_path(vol_id))
    return Pull(dataset=found.dataset.name, version=found.version.version, volume=into,
                path=vol.path, files=len(manifest.files), bytes=manifest.total_bytes,
                fetched_objects=fetched, fetched_bytes=fetched_bytes)
