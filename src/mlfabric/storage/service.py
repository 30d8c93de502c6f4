"""The storage engine of one home: its object store, volume folders, stat indexes and
locks, built from a ``Home`` on first use (``open_storage``). Drivers are looked up in
``mlfabric.storage.drivers``; this module does not know them."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from mlfabric.catalog import Catalog, named_row, schema
from mlfabric.config import Config
from mlfabric.errors import NotFound
from mlfabric.home import Home, open_home, private_dir
from mlfabric.locks import store_and_volumes
from mlfabric.storage.objects import ObjectStore
from mlfabric.storage.records import Snapshot, Volume


class Storage:
    """Volumes, snapshots and the object store of one home."""

    def __init__(self, home: Home) -> None:
        self.home = home
        config = home.config
        for d in (config.volumes_dir, config.tmp_dir, config.index_dir, config.locks_dir):
            private_dir(d)

    @property
    def config(self) -> Config:
        return self.home.config

    @property
    def catalog(self) -> Catalog:
        return self.home.catalog

    @cached_property
    def objects(self) -> ObjectStore:
        """The home's content-addressed object store."""
        store = ObjectStore(self.config.objects_dir)
        store.ensure()
        return store

    def volume_path(self, name: str) -> Path:
        return self.config.volumes_dir / name

    def index_path(self, volume_id: int, suffix: str = "idx") -> Path:
        return self.config.index_dir / f"{volume_id}.{suffix}"

    @contextmanager
    def locked(self, *volumes: str, exclusive_store: bool = False) -> Iterator[None]:
        with store_and_volumes(self.config.locks_dir, list(volumes),
                               exclusive_store=exclusive_store):
            yield

    # -- catalog look-ups -------------------------------------------------------------
    def volume_row(self, conn: Connection, name: str) -> Any:
        return named_row(conn, schema.volumes, name, "volume")

    def snapshot_row(self, conn: Connection, volume: str, name: str) -> Any:
        vol = self.volume_row(conn, volume)
        s = schema.snapshots
        row = conn.execute(select(s).where(s.c.volume_id == vol.id, s.c.name == name)).first()
        if row is None:
            raise NotFound("snapshot", f"{volume}@{name}")
        return row

    def to_volume(self, row: Any, snapshots: int = 0) -> Volume:
        origin = (f"{row.origin_volume}@{row.origin_snapshot}"
                  if row.origin_volume and row.origin_snapshot else None)
        return Volume(name=row.name, path=str(self.volume_path(row.name)),
                      created_at=row.created_at, driver=row.driver, size_limit=row.size_limit,
                      labels=dict(row.labels or {}), read_only=bool(row.read_only),
                      clone_mode=row.clone_mode, origin=origin, snapshots=snapshots)

    @staticmethod
    def to_snapshot(volume: str, row: Any, **extra: Any) -> Snapshot:
        return Snapshot(volume=volume, name=row.name, created_at=row.created_at, kind=row.kind,
                        files=row.files, bytes=row.bytes, manifest_oid=row.manifest_oid, **extra)


_storages: dict[int, Storage] = {}
_lock = threading.Lock()


def storage_of(home: Home) -> Storage:
    """The storage engine of ``home`` (one per home object)."""
    with _lock:
        st = _storages.get(id(home))
        if st is None or st.home is not home:
            st = _storages[id(home)] = Storage(home)
        return st


def open_storage(home: str | os.PathLike[str] | None = None) -> Storage:
    """The storage engine of ``home`` (default ``$MLFABRIC_HOME`` or ``~/.mlfabric``)."""
    return storage_of(open_home(home))
