"""``cache add DS[:VERSION]`` and ``cache prepopulate DS:VERSION --path P``.

A hit (the version is complete in the pool) touches only the catalog: last use, use
count, hit counter, and a lease when one is asked for. A miss takes the pool's lock,
checks the version fits the budget, evicts to make room, fetches only the objects the
pool lacks, builds the tree in staging from hard links to pool objects and renames it
into place; the catalog row commits last.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from mlfabric.catalog import schema
from mlfabric.datasets import DEFAULT_WORKERS
from mlfabric.datasets.cache.config import get_pool, limits_of
from mlfabric.datasets.cache.entries import entry_row, grant, to_entry
from mlfabric.datasets.cache.evict import Decision, choose_evictions
from mlfabric.datasets.cache.pool import (
    COMPLETE,
    PARTIAL,
    PoolDirs,
    crashed_unsynced,
    dirs_of,
    locked,
    mark_unsynced,
    to_trash,
    tree_of,
)
from mlfabric.datasets.cache.selection import select_paths
from mlfabric.datasets.cache.sweep import candidates, sweep_locked, sweep_objects
from mlfabric.datasets.fetch import check_workers, fetch_objects, load_manifest
from mlfabric.datasets.records import CacheEntry, CachePlan
from mlfabric.datasets.refs import Resolved, resolve
from mlfabric.datasets.remote import lake_of
from mlfabric.errors import Busy, InvalidInput
from mlfabric.home import Home, open_home
from mlfabric.names import parse_version_ref
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage.fsops import remove_tree
from mlfabric.storage.manifest import LINK, Manifest
from mlfabric.storage.materialize import TreePlan, check_objects, plan_tree
from mlfabric.storage.objects import OBJECT_MODE, ObjectStore
from mlfabric.units import format_size

P, E = schema.cache_pools, schema.cache_entries
Clock = Callable[[], float]


def _hit(st: Home, pool: Any, found: Resolved, holder: str | None,
         now: float) -> CacheEntry | None:
    """Serve a complete entry from the catalog alone, or None."""
    ds, ver = found.dataset.name, found.version.version
    dirs = dirs_of(pool)
    if not dirs.entry(ds, ver).is_dir() or crashed_unsynced(dirs):
        return None  # the locked path recovers first

    def _txn(conn: Connection) -> CacheEntry | None:
        row = entry_row(conn, pool, ds, ver)
        if row is None or row.state != COMPLETE:
            return None
        conn.execute(E.update().where(E.c.id == row.id).values(last_used=now,
                                                               uses=E.c.uses + 1))
        conn.execute(P.update().where(P.c.id == pool.id).values(hits=P.c.hits + 1))
        if holder is not None:
            grant(conn, row.id, holder, now)
        return to_entry(conn, pool, entry_row(conn, pool, ds, ver), hit=True)

    return st.catalog.run_write(_txn)


def _link_tree(root: Path, plan: TreePlan, store: ObjectStore, progress: Progress) -> None:
    """Add ``plan``'s folders, files and symlinks under ``root``: files are hard links to
    pool objects (read-only, shared by every entry that has them); an object already at
    the file system's link limit is copied instead."""
    check_objects(store, plan.write)
    progress.start("linking", plan.write_bytes)
    for e in plan.mkdirs:
        (root / e.path).mkdir(mode=0o700, exist_ok=True)
    for e in plan.write:
        dest = root / e.path
        if e.kind == LINK:
            os.symlink(e.ref, dest)
            continue
        try:
            os.link(store.path(e.ref), dest)
        except OSError as exc:
            if exc.errno != errno.EMLINK:
                raise
            shutil.copyfile(store.path(e.ref), dest)
            os.chmod(dest, OBJECT_MODE)
        progress.advance(1, e.size)
    for e in plan.dir_modes:
        os.chmod(root / e.path, stat.S_IMODE(e.mode))
    progress.finish()


def _materialize(dirs: PoolDirs, dataset: str, version: str, fresh: bool, current: Manifest,
                 target: Manifest, progress: Progress) -> None:
    """Make the entry's tree equal ``target``: a fresh tree is staged and renamed in; a
    partial one is extended in place (a failure drops it whole)."""
    dest = dirs.entry(dataset, version)
    if fresh:
        stage = dirs.scratch(f"{dataset}-{version}")
        stage.mkdir(mode=0o755)
        try:
            _link_tree(stage, plan_tree(Manifest(), target), dirs.store, progress)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(stage, dest)
        except BaseException:
            remove_tree(stage)
            raise
        return
    try:
        _link_tree(dest, plan_tree(current, target), dirs.store, progress)
    except BaseException:
        to_trash(dirs, dest)  # the recovery on the next lock forgets its row
        raise


@dataclass(frozen=True)
class _Work:
    """What caching a version needs, computed the same way for a plan and for the add."""

    manifest: Manifest  # the version's
    current: Manifest  # what the entry holds already (empty for a new entry)
    target: Manifest  # what it will hold
    need: dict[str, int]  # object id -> size, of every file of the target
    incoming: int  # bytes of objects no entry of the pool holds yet
    decision: Decision  # the evictions that make room

    @property
    def complete(self) -> bool:
        return set(self.target.entries) == set(self.manifest.entries)


def _work(st: Home, prow: Any, found: Resolved, dirs: PoolDirs, row: Any | None,
          include: Sequence[str] | None, exclude: Sequence[str], now: float) -> _Work:
    """Plan an add (reads only); refuses a version larger than the budget."""
    lake = lake_of(found.remote)
    lake.check()
    manifest = load_manifest(lake, dirs.store, found.version.manifest_oid, found.ref,
                             keep=False)
    current = (tree_of(dirs, row) if row is not None else None) or Manifest()
    selected = manifest if include is None else select_paths(manifest, include, exclude)
    target = Manifest({**current.entries, **selected.entries})
    need = {e.ref: e.size for e in target.files}
    total = sum(need.values())
    if total > prow.budget:
        raise InvalidInput(
            f"dataset version {found.ref} needs {format_size(total)}, more than the "
            f"{format_size(prow.budget)} budget of cache pool '{prow.name}' (raise it "
            f"with: mlfabric cache config --pool {prow.name} --size ...)", field="size")
    cands, _, _ = candidates(st, prow, dirs)
    held: dict[str, int] = {}
    for c in cands:
        held.update(c.objects)
    incoming = sum(size for oid, size in need.items() if oid not in held)
    decision = choose_evictions(cands, limits_of(prow), now, reserve=incoming,
                                pinned={found.ref})
    return _Work(manifest, current, target, need, incoming, decision)


def _full(prow: Any, found: Resolved, decision: Decision, incoming: int) -> Busy | None:
    """The error of an add that does not fit even after its evictions (leased entries
    hold the rest), or None."""
    if decision.usage_after + incoming <= prow.budget:
        return None
    return Busy(f"cache pool '{prow.name}' is full: leased entries hold "
                f"{format_size(decision.usage_after)} of its {format_size(prow.budget)} "
                f"budget and {found.ref} needs {format_size(incoming)} more",
                resource=prow.name)


def plan_add(ref: str, *, pool: str | None = None, home: str | None = None,
             clock: Clock = time.time) -> CachePlan:
    """What ``cache add`` would do, changing nothing: a hit, or the objects it would
    fetch and the entries it would evict to make room (or the error it would give)."""
    r = parse_version_ref(ref)
    st = open_home(home)
    prow = get_pool(st, pool)
    found = resolve(st, r)
    dirs = dirs_of(prow)
    row = st.catalog.run_read(lambda c: entry_row(c, prow, found.dataset.name,
                                                  found.version.version))
    if row is not None and row.state == COMPLETE and dirs.entry(
            found.dataset.name, found.version.version).is_dir():
        return CachePlan(ref=found.ref, pool=prow.name, hit=True, files=row.files,
                         bytes=row.bytes, fetch_objects=0, fetch_bytes=0, evict=[],
                         usage_before=0, usage_after=0)
    work = _work(st, prow, found, dirs, row, None, (), clock())
    if (full := _full(prow, found, work.decision, work.incoming)) is not None:
        raise full
    fetch = {oid: size for oid, size in work.need.items()
             if not dirs.store.looks_intact(oid, size)}
    return CachePlan(ref=found.ref, pool=prow.name, hit=False, files=len(work.target.files),
                     bytes=work.target.total_bytes, fetch_objects=len(fetch),
                     fetch_bytes=sum(fetch.values()), evict=work.decision.keys,
                     usage_before=work.decision.usage_before,
                     usage_after=work.decision.usage_after + work.incoming)


def ensure(ref: str, *, pool: str | None = None, include: Sequence[str] | None = None,
           exclude: Sequence[str] = (), holder: str | None = None,
           workers: int = DEFAULT_WORKERS, home: str | None = None,
           progress: Progress = NO_PROGRESS, clock: Clock = time.time) -> CacheEntry:
    """Cache a version (or, with ``include``, part of it) and return its entry."""
    check_workers(workers)
    r = parse_version_ref(ref, require_version=include is not None)
    st = open_home(home)
    prow = get_pool(st, pool)
    found = resolve(st, r)
    ds, ver = found.dataset.name, found.version.version
    whole = include is None
    if whole and (hit := _hit(st, prow, found, holder, clock())) is not None:
        return hit
    with locked(st, prow) as dirs:
        if whole and (hit := _hit(st, prow, found, holder, clock())) is not None:
            return hit
        row = st.catalog.run_read(lambda c: entry_row(c, prow, ds, ver))
        work = _work(st, prow, found, dirs, row, None if whole else list(include or []),
                     exclude, clock())
        # The evictions happen even if the version then does not fit: the policy makes
        # room first (as a later add will want it too).
        _, decision = sweep_locked(st, prow, dirs, clock(), reserve=work.incoming,
                                   pinned={found.ref}, keep=work.need)
        if (full := _full(prow, found, decision, work.incoming)) is not None:
            sweep_objects(st, prow, dirs)  # what was kept for this entry is not needed
            raise full
        mark_unsynced(dirs)
        fetched, fetched_bytes = fetch_objects(lake_of(found.remote), dirs.store, work.need,
                                               workers=workers, progress=progress,
                                               what="caching", durable=False)
        tree_oid = dirs.store.put_bytes(work.target.to_bytes())
        _materialize(dirs, ds, ver, row is None, work.current, work.target, progress)
        complete = work.complete
        paths = None if complete else sorted(set((row.paths if row else None) or [])
                                             | set(include or []))
        now = clock()

        def _commit(conn: Connection) -> CacheEntry:
            values = {"state": COMPLETE if complete else PARTIAL, "tree_oid": tree_oid,
                      "manifest_oid": found.version.manifest_oid,
                      "files": len(work.target.files), "bytes": work.target.total_bytes,
                      "paths": paths, "last_used": now}
            old = entry_row(conn, prow, ds, ver)
            if old is None:
                conn.execute(E.insert().values(pool_id=prow.id, dataset=ds, version=ver,
                                               created_at=now, uses=int(whole), **values))
            else:
                conn.execute(E.update().where(E.c.id == old.id)
                             .values(uses=E.c.uses + int(whole), **values))
            conn.execute(P.update().where(P.c.id == prow.id).values(
                misses=P.c.misses + int(whole),
                bytes_fetched=P.c.bytes_fetched + fetched_bytes))
            new = entry_row(conn, prow, ds, ver)
            if holder is not None:
                grant(conn, new.id, holder, now)
            return to_entry(conn, prow, new, hit=False if whole else None,
                            fetched_objects=fetched, fetched_bytes=fetched_bytes)

        return st.catalog.run_write(_commit)


def add(ref: str, *, pool: str | None = None, workers: int = DEFAULT_WORKERS,
        home: str | None = None, progress: Progress = NO_PROGRESS,
        clock: Clock = time.time) -> CacheEntry:
    """Cache a whole version (``DS:VERSION``, or ``DS`` for the latest) once; later adds
    are hits. Only objects the pool lacks are fetched. Returns the entry (``path``)."""
    return ensure(ref, pool=pool, workers=workers, home=home, progress=progress, clock=clock)


def prepopulate(ref: str, *, paths: Sequence[str], exclude: Sequence[str] = (),
                pool: str | None = None, workers: int = DEFAULT_WORKERS,
                home: str | None = None, progress: Progress = NO_PROGRESS,
                clock: Clock = time.time) -> CacheEntry:
    """Warm only the parts of a version under ``paths`` (minus ``exclude``); a later
    ``add`` completes the entry, fetching only what is still missing."""
    if not paths:
        raise InvalidInput("prepopulate needs at least one --path", field="path")
    return ensure(ref, pool=pool, include=list(paths), exclude=list(exclude), workers=workers,
                  home=home, progress=progress, clock=clock)

