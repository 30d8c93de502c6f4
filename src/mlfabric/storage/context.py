"""The storage context: configuration, catalog, object store and drivers of one home."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from mlfabric.catalog import Catalog, named_row, open_catalog, schema
from mlfabric.config import Config, load_config
from mlfabric.errors import NotFound
from mlfabric.storage import locks
from mlfabric.storage.models import Snapshot, Volume
from mlfabric.storage.objects import ObjectStore

if TYPE_CHECKING:
    from mlfabric.storage.drivers.base import StorageDriver


@dataclass
class Storage:
    config: Config
    catalog: Catalog
    store: ObjectStore

    def driver(self, name: str) -> StorageDriver:
        from mlfabric.storage.drivers import get_driver

        return get_driver(name)

    def default_driver(self) -> str:
        from mlfabric.storage.drivers import choose_driver

        return choose_driver(self.config.storage_driver, self.config.volumes_dir)

    def volume_path(self, name: str) -> Path:
        return self.config.volumes_dir / name

    def index_path(self, volume_id: int, suffix: str = "idx") -> Path:
        return self.config.index_dir / f"{volume_id}.{suffix}"

    @contextmanager
    def locked(self, *volumes: str, exclusive_store: bool = False) -> Iterator[None]:
        with locks.store_and_volumes(self.config.locks_dir, list(volumes),
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


_storages: dict[Path, Storage] = {}
_lock = threading.Lock()


def open_storage(home: str | os.PathLike[str] | None = None) -> Storage:
    """The storage context of ``home`` (default ``$MLFABRIC_HOME`` or ``~/.mlfabric``)."""
    config = load_config(home)
    with _lock:
        st = _storages.get(config.home)
        if st is None or st.config != config:
            config.home.mkdir(parents=True, exist_ok=True)
            for d in (config.volumes_dir, config.tmp_dir, config.index_dir, config.locks_dir):
                d.mkdir(parents=True, exist_ok=True)
            store = ObjectStore(config.objects_dir)
            store.ensure()
            st = _storages[config.home] = Storage(config, open_catalog(config.catalog_url), store)
        return st
