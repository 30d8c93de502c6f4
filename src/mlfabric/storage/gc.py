"""``gc``: mark objects reachable from committed snapshots and stat indexes, sweep the rest
once older than the grace period. Runs under the exclusive store lock, so a snapshot,
restore or clone in progress finishes first (and new ones wait for the sweep)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import select

from mlfabric.catalog import schema
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage.drivers import driver_of
from mlfabric.storage.fsops import remove_tree
from mlfabric.storage.records import GcReport
from mlfabric.storage.scan import StatIndex
from mlfabric.storage.service import Storage, open_storage
from mlfabric.storage.volume import remove_orphan_dir
from mlfabric.units import parse_duration

DEFAULT_GRACE = "1h"


def reachable_objects(st: Storage) -> set[str]:
    """Every object a committed snapshot or a volume's stat index refers to."""

    def _q(conn):  # type: ignore[no-untyped-def]
        vols = {r.id: r for r in conn.execute(select(schema.volumes))}
        return vols, conn.execute(select(schema.snapshots)).all()

    vols, snaps = st.catalog.run_read(_q)
    marked: set[str] = set()
    for snap in snaps:
        vol = vols.get(snap.volume_id)
        if vol is not None:
            marked |= driver_of(vol.driver).object_ids(st, snap)
    if st.config.index_dir.exists():
        for f in st.config.index_dir.iterdir():
            if f.suffix == ".idx":
                marked |= StatIndex.load(f).object_ids()
    return marked


def _leftovers(st: Storage, cutoff: float, dry_run: bool) -> list[str]:
    """Temp files, staging trees, and volume dirs, snapshot subvolumes or indexes that no
    catalog row owns (left by a crash between the file work and the catalog commit)."""

    def _q(conn):  # type: ignore[no-untyped-def]
        rows = conn.execute(select(schema.volumes.c.id, schema.volumes.c.name)).all()
        refs = {r.driver_ref for r in conn.execute(select(schema.snapshots.c.driver_ref))}
        return {r.id for r in rows}, {r.name for r in rows}, refs

    ids, names, refs = st.catalog.run_read(_q)
    trees: list[Path] = []
    for area in (st.objects.tmp, st.config.tmp_dir):
        if area.exists():
            trees += [p for p in area.iterdir() if p.lstat().st_mtime < cutoff]
    if st.config.index_dir.exists():
        for p in st.config.index_dir.iterdir():
            head = p.name.split(".", 1)[0]
            orphan = head.isdigit() and int(head) not in ids
            # Index saves write ".<id>.<suffix>.<pid>...tmp" then rename: a kill leaves it.
            stale_tmp = p.name.startswith(".") and p.suffix == ".tmp" and \
                p.lstat().st_mtime < cutoff
            if orphan or stale_tmp:
                trees.append(p)
    volumes = ([p.name for p in st.config.volumes_dir.iterdir()
                if not p.name.startswith(".") and p.name not in names]
               if st.config.volumes_dir.exists() else [])
    subvolumes = [p for root in (st.config.snapshots_dir, st.config.volumes_dir / ".snapshots")
                  if root.is_dir() for d in root.iterdir() if d.is_dir()
                  for p in d.iterdir() if str(p) not in refs]
    if not dry_run:
        for p in trees:
            remove_tree(p)
        for name in volumes:
            remove_orphan_dir(st, name)  # through the drivers: it may be a subvolume
        if subvolumes:
            from mlfabric.storage.drivers.btrfs import remove_subvolume_or_tree

            for p in subvolumes:
                remove_subvolume_or_tree(p)
    return ([str(p) for p in trees] + [str(st.volume_path(n)) for n in volumes]
            + [str(p) for p in subvolumes])


def gc(*, dry_run: bool = False, grace: str | float = DEFAULT_GRACE, home: str | None = None,
       progress: Progress = NO_PROGRESS) -> GcReport:
    """Remove unreachable objects older than ``grace`` (``--dry-run`` only reports)."""
    grace_s = parse_duration(grace)
    st = open_storage(home)
    with st.locked(exclusive_store=True):
        marked = reachable_objects(st)
        cutoff = time.time() - grace_s
        total = removed = nbytes = kept = 0
        progress.start("sweeping", None)
        for oid, s in st.objects.iter_objects():
            total += 1
            if oid in marked:
                continue
            if s.st_ctime >= cutoff:
                kept += 1
                continue
            removed += 1
            nbytes += s.st_size
            if not dry_run:
                os.unlink(st.objects.path(oid))
            progress.advance(1, s.st_size)
        progress.finish()
        leftovers = _leftovers(st, cutoff, dry_run)
    return GcReport(dry_run=dry_run, objects_total=total, objects_reachable=len(marked),
                    objects_removed=removed, bytes_removed=nbytes, kept_in_grace=kept,
                    leftovers_removed=leftovers)
