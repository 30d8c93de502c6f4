"""Snapshot operations: create, list, show, delete."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import select

from mlfabric.catalog import schema
from mlfabric.errors import AlreadyExists, NotFound
from mlfabric.names import parse_snapshot_ref, validate_name
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage.drivers import driver_of
from mlfabric.storage.records import Snapshot
from mlfabric.storage.service import Storage, open_storage

S = schema.snapshots


def default_name(prefix: str = "s") -> str:
    """Unique, time-ordered: ``s-20261129-051420-123456``."""
    now = dt.datetime.now(dt.UTC)
    return f"{prefix}-{now:%Y%m%d-%H%M%S-%f}"


def _free_name(conn: Any, volume_id: int, base: str) -> str:
    name, n = base, 1
    while conn.execute(select(S.c.id).where(S.c.volume_id == volume_id,
                                            S.c.name == name)).first():
        n += 1
        name = f"{base}-{n}"
    return name


def create_locked(st: Storage, volume: str, name: str | None, *, kind: str = "user",
                  prefix: str = "s", progress: Progress = NO_PROGRESS) -> Snapshot:
    """Take a snapshot; the caller holds the volume's lock."""

    def _prepare(conn):  # type: ignore[no-untyped-def]
        vol = st.volume_row(conn, volume)
        if name is None:
            return vol, _free_name(conn, vol.id, default_name(prefix))
        if conn.execute(select(S.c.id).where(S.c.volume_id == vol.id, S.c.name == name)).first():
            raise AlreadyExists("snapshot", f"{volume}@{name}")
        return vol, name

    vol, snap_name = st.catalog.run_read(_prepare)
    driver = driver_of(vol.driver)
    driver.recover(st, st.volume_path(volume))
    data = driver.snapshot(st, vol, snap_name, progress)

    def _insert(conn):  # type: ignore[no-untyped-def]
        if conn.execute(select(S.c.id).where(S.c.volume_id == vol.id,
                                             S.c.name == snap_name)).first():
            raise AlreadyExists("snapshot", f"{volume}@{snap_name}")
        conn.execute(S.insert().values(
            volume_id=vol.id, name=snap_name, created_at=time.time(), kind=kind,
            manifest_oid=data.manifest_oid, files=data.files, bytes=data.bytes,
            driver_ref=data.driver_ref))
        return st.snapshot_row(conn, volume, snap_name)

    try:
        row = st.catalog.run_write(_insert)
    except BaseException:
        if data.driver_ref:
            driver.delete_snapshot(st, _Ref(data.driver_ref))
        raise
    if data.after_commit is not None:
        data.after_commit()
    return st.to_snapshot(volume, row, warnings=data.warnings, hashed_files=data.hashed_files)


class _Ref:
    def __init__(self, driver_ref: str) -> None:
        self.driver_ref = driver_ref


def create(volume: str, *, name: str | None = None, home: str | None = None,
           progress: Progress = NO_PROGRESS) -> Snapshot:
    """Snapshot a volume; only files whose stat changed since the last scan are read."""
    validate_name(volume, "volume name")
    if name is not None:
        validate_name(name, "snapshot name")
    st = open_storage(home)
    with st.locked(volume):
        return create_locked(st, volume, name, progress=progress)


def list_snapshots(volume: str, *, home: str | None = None) -> list[Snapshot]:
    """A volume's snapshots, oldest first."""
    validate_name(volume, "volume name")
    st = open_storage(home)

    def _q(conn):  # type: ignore[no-untyped-def]
        vol = st.volume_row(conn, volume)
        rows = conn.execute(select(S).where(S.c.volume_id == vol.id)
                            .order_by(S.c.created_at, S.c.id))
        return [st.to_snapshot(volume, r) for r in rows]

    return st.catalog.run_read(_q)


def show(ref: str, *, home: str | None = None) -> Snapshot:
    """One snapshot, ``VOLUME@SNAPSHOT``."""
    r = parse_snapshot_ref(ref, require_snapshot=True)
    st = open_storage(home)
    assert r.snapshot is not None
    row = st.catalog.run_read(lambda c: st.snapshot_row(c, r.volume, r.snapshot))
    return st.to_snapshot(r.volume, row)


def delete(ref: str, *, home: str | None = None) -> Snapshot:
    """Delete a snapshot; its data is reclaimed by ``gc`` once nothing else needs it."""
    r = parse_snapshot_ref(ref, require_snapshot=True)
    assert r.snapshot is not None
    st = open_storage(home)
    with st.locked(r.volume):

        def _delete(conn):  # type: ignore[no-untyped-def]
            vol = st.volume_row(conn, r.volume)
            row = st.snapshot_row(conn, r.volume, r.snapshot)
            conn.execute(S.delete().where(S.c.id == row.id))
            return vol, row

        vol, row = st.catalog.run_write(_delete)
        driver_of(vol.driver).delete_snapshot(st, row)
        return st.to_snapshot(r.volume, row)


def resolve(st: Storage, volume: str, name: str) -> tuple[Any, Any]:
    """(volume row, snapshot row), raising ``NotFound`` for either."""

    def _q(conn):  # type: ignore[no-untyped-def]
        return st.volume_row(conn, volume), st.snapshot_row(conn, volume, name)

    try:
        return st.catalog.run_read(_q)
    except NotFound:
        raise
