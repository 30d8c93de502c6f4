"""``cache remove DS[:VERSION] [--pool P] [--force]``: drop entries from a pool now.

A leased entry is refused unless ``force``, which ends its leases. Objects another
entry still needs stay."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from mlfabric.catalog import schema
from mlfabric.datasets.cache.config import get_pool
from mlfabric.datasets.cache.entries import to_entry
from mlfabric.datasets.cache.pool import EVICTING, locked
from mlfabric.datasets.cache.sweep import drop, sweep_objects
from mlfabric.datasets.records import CacheEntry
from mlfabric.errors import Busy, NotFound
from mlfabric.home import open_home
from mlfabric.names import parse_version_ref

E, L = schema.cache_entries, schema.cache_leases


def remove(ref: str, *, pool: str | None = None, force: bool = False,
           home: str | None = None) -> list[CacheEntry]:
    """Remove ``DS:VERSION`` (or every cached version of ``DS``) from a pool."""
    r = parse_version_ref(ref)
    st = open_home(home)
    prow = get_pool(st, pool)
    with locked(st, prow) as dirs:

        def _q(conn: Connection) -> list[tuple[object, CacheEntry, int]]:
            q = select(E).where(E.c.pool_id == prow.id, E.c.dataset == r.dataset,
                                E.c.state != EVICTING)
            if r.version is not None:
                q = q.where(E.c.version == r.version)
            out = []
            for row in conn.execute(q.order_by(E.c.version)).all():
                n = conn.execute(select(func.count()).where(L.c.entry_id == row.id)
                                 ).scalar_one()
                out.append((row, to_entry(conn, prow, row), n))
            return out

        found = st.catalog.run_read(_q)
        if not found:
            raise NotFound("cache entry", f"{r} in pool '{prow.name}'")
        leased = [e for _, e, n in found if n]
        if leased and not force:
            who = ", ".join(h for e in leased for h in e.leases)
            raise Busy(f"{leased[0].ref} is leased in pool '{prow.name}' by {who}; use "
                       "--force to end the leases and remove it", resource=leased[0].ref)
        dropped = {row.id for row in drop(st, dirs, [row for row, _, _ in found], force=force)}
        sweep_objects(st, prow, dirs)
        return [e for row, e, _ in found if row.id in dropped]
