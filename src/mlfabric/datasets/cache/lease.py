"""Leases: a job or workspace that mounts a cached version holds one, and a leased entry
is never evicted. ``acquire_lease`` caches the version first when needed (a miss) and
returns the path to mount; ``release_lease`` ends the lease and counts as a last use, so
the TTL runs from the end of the job."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, select

from mlfabric.catalog import schema
from mlfabric.datasets import DEFAULT_WORKERS
from mlfabric.datasets.cache.add import ensure
from mlfabric.datasets.cache.config import get_pool
from mlfabric.datasets.cache.pool import dirs_of
from mlfabric.datasets.records import Lease
from mlfabric.errors import InvalidInput, NotFound
from mlfabric.home import open_home
from mlfabric.names import parse_version_ref
from mlfabric.progress import NO_PROGRESS, Progress

E, L = schema.cache_entries, schema.cache_leases
Clock = Callable[[], float]
MAX_HOLDER = 255


def _check_holder(holder: str) -> str:
    if not isinstance(holder, str) or not holder.strip() or len(holder) > MAX_HOLDER \
            or not holder.isprintable():
        raise InvalidInput(f"invalid lease holder '{str(holder)[:40]}': expected 1 to "
                           f"{MAX_HOLDER} printable characters (e.g. job/train-42)",
                           field="holder")
    return holder


def acquire_lease(ref: str, holder: str, *, pool: str | None = None,
                  workers: int = DEFAULT_WORKERS, home: str | None = None,
                  progress: Progress = NO_PROGRESS, clock: Clock = time.time) -> Lease:
    """Pin version ``ref`` in a pool for ``holder`` (caching it first if needed)."""
    _check_holder(holder)
    entry = ensure(ref, pool=pool, holder=holder, workers=workers, home=home,
                   progress=progress, clock=clock)
    st = open_home(home)
    prow = get_pool(st, pool)

    def _q(conn: Connection) -> float:
        return conn.execute(
            select(L.c.acquired_at).join(E, E.c.id == L.c.entry_id)
            .where(E.c.pool_id == prow.id, E.c.dataset == entry.dataset,
                   E.c.version == entry.version, L.c.holder == holder)).scalar_one()

    return Lease(pool=entry.pool, dataset=entry.dataset, version=entry.version, holder=holder,
                 path=entry.path, acquired_at=st.catalog.run_read(_q))


def release_lease(ref: str, holder: str, *, pool: str | None = None,
                  home: str | None = None, clock: Clock = time.time) -> list[Lease]:
    """End ``holder``'s lease on ``ref`` (``DS`` alone: on every version of DS)."""
    _check_holder(holder)
    r = parse_version_ref(ref)
    st = open_home(home)
    prow = get_pool(st, pool)
    now = clock()

    def _txn(conn: Connection) -> list[Lease]:
        q = (select(L.c.id, L.c.acquired_at, E.c.id.label("entry_id"), E.c.dataset,
                    E.c.version).join(E, E.c.id == L.c.entry_id)
             .where(E.c.pool_id == prow.id, E.c.dataset == r.dataset, L.c.holder == holder))
        if r.version is not None:
            q = q.where(E.c.version == r.version)
        rows = conn.execute(q).all()
        if not rows:
            raise NotFound("lease", f"{holder} on {r} in pool '{prow.name}'")
        conn.execute(L.delete().where(L.c.id.in_([x.id for x in rows])))
        conn.execute(E.update().where(E.c.id.in_([x.entry_id for x in rows]))
                     .values(last_used=now))
        return [Lease(pool=prow.name, dataset=x.dataset, version=x.version, holder=holder,
                      path=str(dirs_of(prow).entry(x.dataset, x.version)),
                      acquired_at=x.acquired_at) for x in rows]

    return st.catalog.run_write(_txn)
