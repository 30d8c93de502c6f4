"""Invariants of the cache pools, as ``problems()`` lists that tests switch on after every
step (as the scheduler's ``validate()``): the bytes a pool uses equal what its entries
hold, each object counted once; every object an entry needs is in the pool's store,
intact; nothing else is (no leak); every entry's row and folder agree."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mlfabric.catalog import schema
from mlfabric.datasets.cache.config import get_pool
from mlfabric.datasets.cache.evict import usage
from mlfabric.datasets.cache.pool import locked, tree_of
from mlfabric.datasets.cache.sweep import candidates, entry_rows
from mlfabric.home import open_home

P = schema.cache_pools


def problems(*, pool: str | None = None, home: str | None = None) -> list[str]:
    """Every broken invariant of one pool (or all), in words (empty when all hold)."""
    st = open_home(home)
    rows = ([get_pool(st, pool)] if pool is not None else
            st.catalog.run_read(lambda c: c.execute(select(P).order_by(P.c.name)).all()))
    found: list[str] = []
    for prow in rows:
        with locked(st, prow) as dirs:
            found += _pool_problems(st, prow, dirs)
    return found


def _pool_problems(st: Any, prow: Any, dirs: Any) -> list[str]:
    name = f"cache pool '{prow.name}'"
    found: list[str] = []
    cands, by_key, broken = candidates(st, prow, dirs)
    found += [f"{name}: the tree of entry {r.dataset}:{r.version} is unreadable"
              for r in broken]
    needed: dict[str, int] = {}
    documents: set[str] = set()
    for c in cands:
        needed.update(c.objects)
        row = by_key[c.key]
        documents.add(row.tree_oid)
        tree = tree_of(dirs, row)
        if tree is not None and (row.bytes, row.files) != (tree.total_bytes, len(tree.files)):
            found.append(f"{name}: entry {c.key} records {row.files} files, {row.bytes} "
                         f"bytes; its tree holds {len(tree.files)}, {tree.total_bytes}")
        if not dirs.entry(row.dataset, row.version).is_dir():
            found.append(f"{name}: entry {c.key} has no folder")
    stored = {oid: s.st_size for oid, s in dirs.store.iter_objects()}
    for oid, size in sorted(needed.items()):
        if not dirs.store.looks_intact(oid, size):
            found.append(f"{name}: object {oid} of an entry is missing or altered")
    leaked = set(stored) - set(needed) - documents
    found += [f"{name}: object {oid} is held by no entry" for oid in sorted(leaked)]
    used = usage(cands)
    on_disk = sum(size for oid, size in stored.items() if oid in needed)
    if used != on_disk:
        found.append(f"{name}: entries hold {used} bytes but their objects take {on_disk}")
    rows = {(r.dataset, r.version) for r, _ in entry_rows(st, prow)}
    if dirs.entries.is_dir():
        for ds in dirs.entries.iterdir():
            for ver in ds.iterdir():
                if (ds.name, ver.name) not in rows:
                    found.append(f"{name}: folder {ds.name}/{ver.name} has no entry")
    return found

