"""``cache list`` and ``cache stats``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from mlfabric.catalog import schema
from mlfabric.datasets.cache.config import pool_row
from mlfabric.datasets.cache.entries import to_entry
from mlfabric.datasets.cache.evict import usage
from mlfabric.datasets.cache.pool import EVICTING, dirs_of
from mlfabric.datasets.cache.sweep import candidates
from mlfabric.datasets.records import CacheEntry, CacheStats
from mlfabric.home import open_home
from mlfabric.names import validate_name

P, E, L = schema.cache_pools, schema.cache_entries, schema.cache_leases


def _pools(conn: Connection, pool: str | None) -> list[Any]:
    if pool is not None:
        return [pool_row(conn, validate_name(pool, "pool name"))]
    return conn.execute(select(P).order_by(P.c.name)).all()


def list_entries(*, pool: str | None = None, home: str | None = None) -> list[CacheEntry]:
    """Cached versions (of one pool, or all), with their state, use and lease holders."""
    st = open_home(home)

    def _q(conn: Connection) -> list[CacheEntry]:
        out = []
        for prow in _pools(conn, pool):
            rows = conn.execute(select(E).where(E.c.pool_id == prow.id, E.c.state != EVICTING)
                                .order_by(E.c.dataset, E.c.version)).all()
            out += [to_entry(conn, prow, r) for r in rows]
        return out

    return st.catalog.run_read(_q)


def hit_ratio(hits: int, misses: int) -> float:
    """hits / (hits + misses); 0.0 before the first lookup."""
    return hits / (hits + misses) if hits + misses else 0.0


def stats(*, pool: str | None = None, home: str | None = None) -> list[CacheStats]:
    """Per pool: entries, bytes on disk, budget, hits, misses, hit ratio, evictions,
    bytes fetched."""
    st = open_home(home)
    rows = st.catalog.run_read(lambda c: _pools(c, pool))
    out = []
    for prow in rows:
        cands, _, _ = candidates(st, prow, dirs_of(prow))
        used = usage(cands)
        leases = st.catalog.run_read(lambda c, prow=prow: c.execute(
            select(func.count()).select_from(L).join(E, E.c.id == L.c.entry_id)
            .where(E.c.pool_id == prow.id)).scalar_one())
        out.append(CacheStats(
            pool=prow.name, path=prow.path, entries=len(cands), bytes=used,
            budget=prow.budget, usage_ratio=round(used / prow.budget, 4), high=prow.high,
            low=prow.low, ttl=prow.ttl, leases=leases, hits=prow.hits, misses=prow.misses,
            hit_ratio=hit_ratio(prow.hits, prow.misses), evictions=prow.evictions,
            bytes_fetched=prow.bytes_fetched, bytes_evicted=prow.bytes_evicted))
    return out
