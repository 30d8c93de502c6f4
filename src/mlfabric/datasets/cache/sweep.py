"""``cache evict [--dry-run]``: apply the eviction policy to a pool (the platform server
runs it periodically; ``cache add`` runs it to make room).

Each eviction is two-phase: the catalog row is marked ``evicting`` in a transaction that
re-checks for leases (a lease taken meanwhile wins), the tree is renamed into the trash,
the row is deleted, the trash emptied. Then pool objects no remaining entry needs are
deleted (mark and sweep), so an object two entries share stays while either has it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, func, select

from mlfabric.catalog import schema
from mlfabric.datasets.cache.config import get_pool, limits_of
from mlfabric.datasets.cache.evict import Candidate, Decision, choose_evictions
from mlfabric.datasets.cache.pool import EVICTING, PoolDirs, locked, to_trash, tree_of
from mlfabric.datasets.records import Evicted, SweepReport
from mlfabric.home import Home, open_home

P, E, L = schema.cache_pools, schema.cache_entries, schema.cache_leases
Clock = Callable[[], float]


def key_of(row: Any) -> str:
    return f"{row.dataset}:{row.version}"


def entry_rows(st: Home, pool: Any) -> list[tuple[Any, int]]:
    """(row, lease count) of the pool's live entries."""

    def _q(conn: Connection) -> list[tuple[Any, int]]:
        counts = dict(conn.execute(select(L.c.entry_id, func.count()).group_by(L.c.entry_id))
                      .all())
        rows = conn.execute(select(E).where(E.c.pool_id == pool.id, E.c.state != EVICTING)
                            .order_by(E.c.dataset, E.c.version)).all()
        return [(r, counts.get(r.id, 0)) for r in rows]

    return st.catalog.run_read(_q)


def candidates(st: Home, pool: Any, dirs: PoolDirs
               ) -> tuple[list[Candidate], dict[str, Any], list[Any]]:
    """(policy view of the entries, rows by key, rows whose tree is unreadable)."""
    cands, by_key, broken = [], {}, []
    for row, leases in entry_rows(st, pool):
        tree = tree_of(dirs, row)
        if tree is None:
            broken.append(row)
            continue
        by_key[key_of(row)] = row
        cands.append(Candidate(key_of(row), row.last_used, leases > 0,
                               {e.ref: e.size for e in tree.files}))
    return cands, by_key, broken


def drop(st: Home, dirs: PoolDirs, rows: Iterable[Any], *, force: bool = False
         ) -> list[Any]:
    """Evict entries (two-phase, see the module doc); returns those evicted. A leased
    entry is skipped unless ``force`` (which ends its leases)."""
    done = []
    for row in rows:

        def _mark(conn: Connection, row: Any = row) -> bool:
            if conn.execute(select(func.count()).where(L.c.entry_id == row.id)).scalar_one():
                if not force:
                    return False
                conn.execute(L.delete().where(L.c.entry_id == row.id))
            n = conn.execute(E.update().where(E.c.id == row.id, E.c.state != EVICTING)
                             .values(state=EVICTING)).rowcount
            return n == 1

        if not st.catalog.run_write(_mark):
            continue
        to_trash(dirs, dirs.entry(row.dataset, row.version))
        st.catalog.run_write(lambda c, row=row: c.execute(E.delete().where(E.c.id == row.id)))
        done.append(row)
    return done


def sweep_objects(st: Home, pool: Any, dirs: PoolDirs,
                  keep: Iterable[str] = ()) -> tuple[int, int]:
    """Delete pool objects no entry needs (nor ``keep``); returns (objects, bytes)."""
    marked: set[str] = set(keep)
    for row, _ in entry_rows(st, pool):
        marked |= {row.manifest_oid, row.tree_oid}
        tree = tree_of(dirs, row)
        if tree is not None:
            marked |= tree.object_ids()
    n = nbytes = 0
    for oid, s in list(dirs.store.iter_objects()):
        if oid not in marked:
            dirs.store.delete(oid)
            n += 1
            nbytes += s.st_size
    return n, nbytes


def count_evictions(st: Home, pool: Any, n: int, nbytes: int) -> None:
    if n:
        st.catalog.run_write(lambda c: c.execute(
            P.update().where(P.c.id == pool.id).values(evictions=P.c.evictions + n,
                                                       bytes_evicted=P.c.bytes_evicted
                                                       + nbytes)))


def apply(st: Home, pool: Any, dirs: PoolDirs, decision: Decision,
          by_key: dict[str, Any]) -> list[Evicted]:
    """Carry out a policy decision (lock held)."""
    reasons = {e.key: e for e in decision.evict}
    dropped = drop(st, dirs, [by_key[e.key] for e in decision.evict])
    out = [Evicted(key_of(r), reasons[key_of(r)].reason, reasons[key_of(r)].freed)
           for r in dropped]
    count_evictions(st, pool, len(out), sum(e.bytes for e in out))
    return out


def sweep_locked(st: Home, pool: Any, dirs: PoolDirs, now: float, *,
                 dry_run: bool = False, reserve: int = 0, pinned: Iterable[str] = (),
                 keep: Iterable[str] = ()) -> tuple[SweepReport, Decision]:
    """One sweep of a locked pool; ``reserve`` makes room for an entry being added
    (whose objects, ``keep``, stay if present)."""
    cands, by_key, broken = candidates(st, pool, dirs)
    decision = choose_evictions(cands, limits_of(pool), now, reserve=reserve, pinned=pinned)
    if dry_run:
        evicted = [Evicted(e.key, e.reason, e.freed) for e in decision.evict]
        removed = (0, 0)
    else:
        evicted = [Evicted(key_of(r), "broken", 0) for r in drop(st, dirs, broken)]
        evicted += apply(st, pool, dirs, decision, by_key)
        removed = sweep_objects(st, pool, dirs, keep)
    report = SweepReport(pool=pool.name, dry_run=dry_run, budget=pool.budget,
                         usage_before=decision.usage_before, usage_after=decision.usage_after,
                         evicted=evicted, objects_removed=removed[0],
                         bytes_removed=removed[1], blocked=decision.blocked)
    return report, decision


def evict(*, pool: str | None = None, dry_run: bool = False, home: str | None = None,
          clock: Clock = time.time) -> list[SweepReport]:
    """Sweep one pool, or every pool when ``pool`` is None: entries unused for longer
    than the TTL, then least recently used ones down to the low watermark when usage is
    above the high watermark. Leased entries are never evicted."""
    st = open_home(home)
    if pool is not None:
        rows = [get_pool(st, pool)]
    else:
        rows = st.catalog.run_read(lambda c: c.execute(select(P).order_by(P.c.name)).all())
    reports = []
    for row in rows:
        with locked(st, row) as dirs:
            reports.append(sweep_locked(st, row, dirs, clock(), dry_run=dry_run)[0])
    return reports
