"""Catalog rows of cache entries and leases, as users see them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from mlfabric.catalog import schema
from mlfabric.datasets.cache.pool import dirs_of
from mlfabric.datasets.records import CacheEntry
from mlfabric.errors import NotFound

E, L = schema.cache_entries, schema.cache_leases


def entry_row(conn: Connection, pool: Any, dataset: str, version: str) -> Any | None:
    return conn.execute(select(E).where(E.c.pool_id == pool.id, E.c.dataset == dataset,
                                        E.c.version == version)).first()


def holders(conn: Connection, entry_id: int) -> list[str]:
    return [r.holder for r in conn.execute(select(L.c.holder).where(L.c.entry_id == entry_id)
                                           .order_by(L.c.acquired_at, L.c.holder))]


def grant(conn: Connection, entry_id: int, holder: str, now: float) -> None:
    """Give ``holder`` a lease on the entry (idempotent)."""
    if not conn.execute(select(L.c.id).where(L.c.entry_id == entry_id,
                                             L.c.holder == holder)).first():
        conn.execute(L.insert().values(entry_id=entry_id, holder=holder, acquired_at=now))


def to_entry(conn: Connection, pool: Any, row: Any, **extra: Any) -> CacheEntry:
    return CacheEntry(pool=pool.name, dataset=row.dataset, version=row.version,
                      state=row.state, path=str(dirs_of(pool).entry(row.dataset, row.version)),
                      files=row.files, bytes=row.bytes, created_at=row.created_at,
                      last_used_at=row.last_used, uses=row.uses,
                      leases=holders(conn, row.id), paths=row.paths, **extra)


def require_entry(conn: Connection, pool: Any, dataset: str, version: str) -> Any:
    row = entry_row(conn, pool, dataset, version)
    if row is None:
        raise NotFound("cache entry", f"{dataset}:{version} in pool '{pool.name}'")
    return row
