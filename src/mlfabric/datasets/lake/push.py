"""``dataset push VOLUME[@SNAP] --remote R --name DS``: a snapshot becomes an immutable
dataset version in the lake.

Order, so that a version never points at missing objects and a killed push leaves no
visible version: the manifest, then a ``pending/`` marker (a gc root while the push
runs), then the objects the lake lacks (found with one listing of ``objects/``, uploaded
by parallel workers, each verified against its id), a flush, the version document
(created exclusively), the catalog rows, and last the marker is removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from mlfabric.catalog import schema
from mlfabric.datasets import DEFAULT_WORKERS
from mlfabric.datasets.fetch import check_workers
from mlfabric.datasets.lake.versions import remote_versions, to_version, version_doc
from mlfabric.datasets.records import DatasetVersion, PushPlan
from mlfabric.datasets.refs import dataset_row, remote_row
from mlfabric.datasets.remote import (
    MANIFESTS,
    PENDING,
    RemoteLake,
    Stored,
    lake_of,
    object_key,
    version_key,
)
from mlfabric.errors import InvalidInput, MlfabricError
from mlfabric.home import open_home
from mlfabric.names import SnapshotRef, parse_snapshot_ref, validate_name, version_number
from mlfabric.oids import oid_of
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage.drivers import driver_of
from mlfabric.storage.manifest import Manifest
from mlfabric.storage.service import Storage, storage_of
from mlfabric.storage.snapshot import create_locked, resolve
from mlfabric.transfer.copier import LockedProgress
from mlfabric.transfer.parallel import run_parallel

R, D, V = schema.remotes, schema.datasets, schema.dataset_versions
_CLAIM_ATTEMPTS = 20


def _remote_for(st: Storage, name: str, remote: str | None) -> tuple[Any, Any | None]:
    """(remote row, dataset row or None): a new dataset needs ``remote``; an existing one
    stays on the remote it lives on."""

    def _q(conn: Connection) -> tuple[Any, Any | None]:
        ds = conn.execute(select(D).where(D.c.name == name)).first()
        if ds is None:
            if remote is None:
                raise InvalidInput(f"dataset '{name}' is new: say where it lives with "
                                   "--remote REMOTE", field="remote")
            return remote_row(conn, remote), None
        rem = conn.execute(select(R).where(R.c.id == ds.remote_id)).one()
        if remote is not None and remote != rem.name:
            raise InvalidInput(f"dataset '{name}' lives on remote '{rem.name}', not "
                               f"'{remote}'", field="remote")
        return rem, ds

    return st.catalog.run_read(_q)


def _sources(st: Storage, snap: Any, manifest: Manifest) -> dict[str, tuple[Path, int]]:
    """Where each object's bytes are: the object store, or a btrfs snapshot's subvolume."""
    out: dict[str, tuple[Path, int]] = {}
    for e in manifest.files:
        if e.ref in out:
            continue
        path = st.objects.path(e.ref)
        if not path.exists() and snap.driver_ref:
            path = Path(snap.driver_ref) / e.path
        out[e.ref] = (path, e.size)
    return out


def _upload(rstore: RemoteLake, todo: dict[str, tuple[Path, int]], workers: int,
            progress: Progress) -> tuple[int, int]:
    progress = LockedProgress(progress)
    progress.start(f"uploading {len(todo)} objects", sum(s for _, s in todo.values()))
    errors: list[Exception] = []
    done = nbytes = 0

    def one(item: tuple[str, tuple[Path, int]]) -> None:
        oid, (path, size) = item
        rstore.put_object(oid, path, size, on_bytes=lambda k: progress.advance(0, k))
        progress.advance(1, 0)

    try:
        for out in run_parallel(one, sorted(todo.items()), workers):
            if out.error is None:
                done += 1
                nbytes += out.item[1][1]
            elif isinstance(out.error, Exception):
                errors.append(out.error)
            else:
                raise out.error
    finally:
        progress.finish()
    if errors:
        first = errors[0]
        if len(errors) == 1 and isinstance(first, MlfabricError):
            raise first
        msg = first.message if isinstance(first, MlfabricError) else str(first)
        raise MlfabricError(f"push to remote '{rstore.name}' failed for {len(errors)} "
                            f"object(s): {msg}; no version was created") from first
    return done, nbytes


def _claim_version(st: Storage, rstore: RemoteLake, name: str, doc: dict[str, Any]) -> str:
    """Create the next version document exclusively; returns its version id."""

    def _top(conn: Connection) -> int:
        q = select(func.max(V.c.number)).join(D, D.c.id == V.c.dataset_id)
        return conn.execute(q.where(D.c.name == name)).scalar() or 0

    top = max([st.catalog.run_read(_top)]
              + [version_number(v) for (_, v) in remote_versions(rstore, name)])
    for number in range(top + 1, top + 1 + _CLAIM_ATTEMPTS):
        version = f"v{number}"
        if rstore.write(version_key(name, version), version_doc(name, version, **doc),
                        exclusive=True):
            return version
    raise MlfabricError(f"could not claim a version of dataset '{name}' after "
                        f"{_CLAIM_ATTEMPTS} attempts; other pushes keep winning, try again")


def _latest_manifest(st: Storage, ds: Any | None) -> Any | None:
    """The dataset's latest version row (None for a new dataset)."""
    if ds is None:
        return None
    return st.catalog.run_read(lambda c: c.execute(
        select(V).where(V.c.dataset_id == ds.id).order_by(V.c.number.desc()).limit(1)).first())


def upload_plan(sources: dict[str, tuple[Path, int]], present: dict[str, Stored]
                ) -> dict[str, tuple[Path, int]]:
    """The objects to upload: those the lake lacks or holds at another size (pure)."""
    return {oid: src for oid, src in sources.items()
            if oid not in present or present[oid].size != src[1]}


def _plan(name: str, remote: str, source: str, manifest: Manifest, latest: Any | None,
          todo: dict[str, tuple[Path, int]] | None) -> PushPlan:
    unchanged = latest is not None and latest.manifest_oid == oid_of(manifest.to_bytes())
    todo = {} if unchanged or todo is None else todo
    return PushPlan(dataset=name, remote=remote, source=source,
                    version=latest.version if unchanged else
                    f"v{(latest.number if latest is not None else 0) + 1}",
                    files=len(manifest.files), bytes=manifest.total_bytes,
                    objects=len({e.ref for e in manifest.files}), unchanged=unchanged,
                    upload_objects=len(todo), upload_bytes=sum(s for _, s in todo.values()))


def _target(source: str, name: str, remote: str | None, workers: int, home: str | None
            ) -> tuple[SnapshotRef, Storage, Any, Any | None, RemoteLake]:
    """Check a push's arguments; its source, storage, remote and dataset rows (None for a
    new dataset), and its lake, reachable."""
    validate_name(name, "dataset name")
    if remote is not None:
        validate_name(remote, "remote name")
    check_workers(workers)
    ref = parse_snapshot_ref(source)
    st = storage_of(open_home(home))
    rem, ds = _remote_for(st, name, remote)
    lake = lake_of(rem)
    lake.check()
    return ref, st, rem, ds, lake


def plan_push(source: str, *, name: str, remote: str | None = None,
              home: str | None = None, progress: Progress = NO_PROGRESS) -> PushPlan:
    """What ``push`` would do, changing nothing: the version it would make (or that the
    content is unchanged), and the objects and bytes the lake lacks. A live volume is
    scanned as a snapshot would see it, without taking one."""
    ref, st, rem, ds, lake = _target(source, name, remote, DEFAULT_WORKERS, home)
    with st.locked(ref.volume):
        if ref.snapshot is None:
            vol = st.catalog.run_read(lambda c: st.volume_row(c, ref.volume))
            manifest = driver_of(vol.driver).live_manifest(st, vol, progress)
            sources = {e.ref: (st.volume_path(ref.volume) / e.path, e.size)
                       for e in manifest.files}
        else:
            vol, snap = resolve(st, ref.volume, ref.snapshot)
            manifest = driver_of(vol.driver).manifest(st, vol, snap)
            sources = _sources(st, snap, manifest)
    return _plan(name, rem.name, str(ref), manifest, _latest_manifest(st, ds),
                 upload_plan(sources, lake.list_objects()))


def push(source: str, *, name: str, remote: str | None = None,
         workers: int = DEFAULT_WORKERS, home: str | None = None,
         progress: Progress = NO_PROGRESS) -> DatasetVersion:
    """Push a snapshot (``VOLUME`` takes one first) as the next version of dataset
    ``name``, uploading only the objects the lake lacks."""
    ref, st, rem, ds, rstore = _target(source, name, remote, workers, home)
    with st.locked(ref.volume):
        snap_name = ref.snapshot
        if snap_name is None:
            snap_name = create_locked(st, ref.volume, None, kind="auto", progress=progress).name
        vol, snap = resolve(st, ref.volume, snap_name)
        manifest = driver_of(vol.driver).manifest(st, vol, snap)
    # No lock from here on, through the upload: the committed snapshot keeps its objects
    # from local gc, and should someone delete it meanwhile the upload fails whole.
    latest = _latest_manifest(st, ds)
    data = manifest.to_bytes()
    moid = oid_of(data)
    if _plan(name, rem.name, f"{ref.volume}@{snap_name}", manifest, latest, None).unchanged:
        return to_version(name, rem.name, latest, unchanged=True, uploaded_objects=0,
                          uploaded_bytes=0)
    sources = _sources(st, snap, manifest)
    rstore.write(object_key(moid, MANIFESTS), data)
    marker = f"{PENDING}/{name}-{os.urandom(8).hex()}.json"
    rstore.write(marker, json.dumps({"dataset": name, "manifest": moid,
                                     "started_at": time.time()}).encode())
    try:
        progress.start("listing the lake's objects")
        present = rstore.list_objects()
        progress.finish()
        todo = upload_plan(sources, present)
        uploaded, nbytes = _upload(rstore, todo, workers, progress)
        rstore.flush()
        now = time.time()
        files, total = len(manifest.files), manifest.total_bytes
        version = _claim_version(st, rstore, name, {
            "manifest_oid": moid, "source": f"{ref.volume}@{snap_name}",
            "created_at": now, "files": files, "nbytes": total,
            "objects": len(sources)})

        def _insert(conn: Connection) -> Any:
            row = conn.execute(select(D).where(D.c.name == name)).first()
            if row is None:
                conn.execute(D.insert().values(name=name, remote_id=rem.id,
                                               created_at=now))
                row = dataset_row(conn, name)
            values = {"uploaded_objects": uploaded, "uploaded_bytes": nbytes}
            mine = (V.c.dataset_id == row.id) & (V.c.version == version)
            if conn.execute(select(V.c.id).where(mine)).first():
                # a concurrent 'dataset list --remote' imported it from the lake
                conn.execute(V.update().where(mine).values(**values))
            else:
                conn.execute(V.insert().values(
                    dataset_id=row.id, version=version, number=version_number(version),
                    manifest_oid=moid, source_volume=ref.volume,
                    source_snapshot=snap_name, created_at=now, files=files, bytes=total,
                    objects=len(sources), **values))
            return conn.execute(select(V).where(mine)).one()

        row = st.catalog.run_write(_insert)
    finally:
        # A marker left behind (lake unreachable now) expires; gc removes it later.
        with contextlib.suppress(MlfabricError):
            rstore.delete([marker])
    return to_version(name, rem.name, row, uploaded_objects=uploaded, uploaded_bytes=nbytes)

