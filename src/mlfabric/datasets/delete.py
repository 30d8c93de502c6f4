"""``dataset delete DS:VERSION [--force]``: remove a version from the lake and the catalog.

Refused while a cache pool holds the version (or a lease pins it) unless ``force``;
forced, unleased cache entries go with it and leased ones stay until released. The
version document goes first (the point after which no one can resolve the version);
objects stay until ``gc --remote`` finds them unreferenced.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from mlfabric.catalog import schema
from mlfabric.datasets.records import Deleted
from mlfabric.datasets.refs import resolve
from mlfabric.datasets.remote import lake_of, version_key
from mlfabric.errors import Busy
from mlfabric.home import open_home
from mlfabric.names import parse_version_ref

D, V = schema.datasets, schema.dataset_versions
E, L, PL = schema.cache_entries, schema.cache_leases, schema.cache_pools


def _cached(conn: Connection, dataset: str, version: str) -> list[tuple[str, int]]:
    """(pool, leases) of every cache entry holding the version."""
    q = (select(PL.c.name, E.c.id).join(PL, PL.c.id == E.c.pool_id)
         .where(E.c.dataset == dataset, E.c.version == version).order_by(PL.c.name))
    out = []
    for pool, entry_id in conn.execute(q).all():
        n = conn.execute(select(func.count()).where(L.c.entry_id == entry_id)).scalar_one()
        out.append((pool, n))
    return out


def delete(ref: str, *, force: bool = False, home: str | None = None) -> Deleted:
    """Delete one version (``DS:VERSION``)."""
    r = parse_version_ref(ref, require_version=True)
    st = open_home(home)
    found = resolve(st, r)
    name, version = found.dataset.name, found.version.version
    cached = st.catalog.run_read(lambda c: _cached(c, name, version))
    if cached and not force:
        leased = [p for p, n in cached if n]
        pools = ", ".join(p for p, _ in cached)
        why = (f"leased in pool(s) {', '.join(leased)}" if leased
               else f"cached in pool(s) {pools}")
        raise Busy(f"dataset version {found.ref} is {why}; use --force to delete it anyway "
                   "(leased cache entries stay until released)", resource=found.ref)
    rstore = lake_of(found.remote)
    rstore.check()
    rstore.delete([version_key(name, version)])

    def _forget(conn: Connection) -> None:
        conn.execute(V.delete().where(V.c.id == found.version.id))
        if not conn.execute(select(V.c.id).where(V.c.dataset_id == found.dataset.id)).first():
            conn.execute(D.delete().where(D.c.id == found.dataset.id))

    st.catalog.run_write(_forget)
    removed: list[str] = []
    kept: list[str] = []
    if cached:
        from mlfabric.datasets.cache.remove import remove

        for pool, leases in cached:
            if leases:
                kept.append(pool)
            else:
                remove(found.ref, pool=pool, home=home)
                removed.append(pool)
    return Deleted(dataset=name, version=version, cache_entries_removed=removed,
                   cache_entries_kept=kept)
