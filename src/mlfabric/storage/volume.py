"""Volume operations: create, list, show, path, usage, delete."""

from __future__ import annotations

import contextlib
import os
import stat
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from mlfabric.catalog import platform_schema, schema
from mlfabric.catalog import scheduler_schema as jobs_schema
from mlfabric.errors import AlreadyExists, Busy
from mlfabric.names import parse_labels, validate_name
from mlfabric.storage.drivers import default_driver, driver_of
from mlfabric.storage.manifest import Manifest
from mlfabric.storage.records import DeletePlan, Usage, Volume
from mlfabric.storage.service import Storage, open_storage
from mlfabric.units import format_size, parse_size

V, S = schema.volumes, schema.snapshots


def insert_volume(st: Storage, name: str, **values: Any) -> Volume:
    """Commit a volume row (the commit point of create and clone)."""

    def _insert(conn):  # type: ignore[no-untyped-def]
        if conn.execute(select(V.c.id).where(V.c.name == name)).first():
            raise AlreadyExists("volume", name)
        conn.execute(V.insert().values(name=name, created_at=time.time(), **values))
        return st.volume_row(conn, name)

    return st.to_volume(st.catalog.run_write(_insert))


def remove_orphan_dir(st: Storage, name: str) -> None:
    """A volume directory without a catalog row is a leftover of a crash: drop it.
    Callers hold the volume's lock and have checked that no row exists."""
    from mlfabric.storage.drivers.btrfs import remove_subvolume_or_tree

    remove_subvolume_or_tree(st.volume_path(name))  # it may be a (read-only) subvolume


def create(name: str, *, size: str | int | None = None, labels: list[str] | None = None,
           home: str | None = None) -> Volume:
    """Create an empty volume (a plain directory, or a btrfs subvolume)."""
    validate_name(name, "volume name")
    size_limit = parse_size(size) if size is not None else None
    label_map = parse_labels(labels)
    st = open_storage(home)
    with st.locked(name):
        if st.catalog.run_read(lambda c: c.execute(select(V.c.id).where(V.c.name == name)).first()):
            raise AlreadyExists("volume", name)
        remove_orphan_dir(st, name)
        driver_name = default_driver(st.config)
        path = st.volume_path(name)
        driver_of(driver_name).create_volume(st, path)
        try:
            return insert_volume(st, name, size_limit=size_limit, labels=label_map,
                                 driver=driver_name, read_only=False)
        except BaseException:
            remove_orphan_dir(st, name)
            raise


def _snapshot_counts(conn) -> dict[int, int]:  # type: ignore[no-untyped-def]
    rows = conn.execute(select(S.c.volume_id, func.count()).group_by(S.c.volume_id))
    return {vid: n for vid, n in rows}


def list_volumes(*, home: str | None = None) -> list[Volume]:
    """Every volume, by name."""
    st = open_storage(home)

    def _q(conn):  # type: ignore[no-untyped-def]
        counts = _snapshot_counts(conn)
        return [st.to_volume(r, counts.get(r.id, 0))
                for r in conn.execute(select(V).order_by(V.c.name))]

    return st.catalog.run_read(_q)


def holding(path: str, *, home: str | None = None) -> tuple[str, str] | None:
    """The volume whose folder holds ``path`` (existing or not) and the path inside it
    (``""`` for the folder itself), or None when no volume holds it."""
    real = os.path.realpath(path)
    for vol in list_volumes(home=home):
        root = os.path.realpath(vol.path)
        if real == root or real.startswith(root + os.sep):
            return vol.name, os.path.relpath(real, root) if real != root else ""
    return None


def show(name: str, *, home: str | None = None) -> Volume:
    """One volume with its lineage and snapshot count."""
    validate_name(name, "volume name")
    st = open_storage(home)

    def _q(conn):  # type: ignore[no-untyped-def]
        row = st.volume_row(conn, name)
        return st.to_volume(row, _snapshot_counts(conn).get(row.id, 0))

    return st.catalog.run_read(_q)


def path(name: str, *, home: str | None = None) -> str:
    """The data directory users and jobs read and write."""
    return show(name, home=home).path


def plan_delete(name: str, *, home: str | None = None) -> DeletePlan:
    """What ``delete`` would remove, changing nothing."""
    validate_name(name, "volume name")
    st = open_storage(home)

    def _q(conn):  # type: ignore[no-untyped-def]
        row = st.volume_row(conn, name)
        snaps = conn.execute(select(S.c.name).where(S.c.volume_id == row.id)
                             .order_by(S.c.created_at, S.c.id)).scalars().all()
        clones = conn.execute(select(V.c.name).where(V.c.origin_volume == name)
                              .order_by(V.c.name)).scalars().all()
        return list(snaps), list(clones), users(conn, name)

    snaps, clones, using = st.catalog.run_read(_q)
    files, nbytes = _tree_size(st.volume_path(name))
    return DeletePlan(volume=name, snapshots=snaps, files=files, bytes=nbytes,
                      needs_force=bool(snaps), clones=clones, mounted_by=using)


def _tree_size(root: Path) -> tuple[int, int]:
    """(regular files, their bytes) under ``root``."""
    nbytes, files = 0, 0
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            with contextlib.suppress(FileNotFoundError):
                s = os.lstat(os.path.join(dirpath, n))
                if stat.S_ISREG(s.st_mode):
                    nbytes += s.st_size
                    files += 1
    return files, nbytes


def users(conn, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Who mounts volume ``name`` now, in the user's words: each pending or running job
    that mounts it (or snapshots it when it succeeds), named as the workspace or inference
    server it runs for, if any."""
    J = jobs_schema.jobs
    owners = {(r.project, r.job): f"workspace {r.name}"
              for r in conn.execute(select(platform_schema.workspaces))}
    owners |= {(r.project, r.job): f"inference server {r.name}"
               for r in conn.execute(select(platform_schema.inference_servers))}
    found: list[str] = []
    active = select(J).where(J.c.state.in_(("Pending", "Running"))).order_by(J.c.id)
    for job in conn.execute(active):
        mounted = {str(v).partition(":")[0] for v in job.spec.get("volumes") or ()}
        mounted.add(job.spec.get("snapshot_on_complete") or "")
        if name in mounted:
            who = owners.get((job.project, job.name), f"job {job.project}/{job.name}")
            found.append(f"{who} ({job.state.lower()})")
    return found


def delete(name: str, *, force: bool = False, home: str | None = None) -> Volume:
    """Delete a volume; with snapshots only when ``force`` (they go with it); never while a
    job, workspace or inference server mounts it (not even with ``force``)."""
    validate_name(name, "volume name")
    st = open_storage(home)
    with st.locked(name):

        def _delete(conn):  # type: ignore[no-untyped-def]
            row = st.volume_row(conn, name)
            using = users(conn, name)
            if using:
                raise Busy(f"volume '{name}' is mounted by {', '.join(using)}; stop or "
                           "delete them first", resource=name)
            snaps = conn.execute(select(S).where(S.c.volume_id == row.id)).all()
            if snaps and not force:
                raise Busy(f"volume '{name}' has {len(snaps)} snapshot(s); use --force to "
                           "delete it with its snapshots", resource=name)
            conn.execute(V.delete().where(V.c.id == row.id))
            conn.execute(S.delete().where(S.c.volume_id == row.id))
            return row, snaps

        # The catalog commit is the point of no return; files are removed after it, and a
        # crash in between leaves only orphans that gc (or a re-create) cleans up. The stat
        # index goes first: without it a surviving volume only re-reads its files.
        vol_id = st.catalog.run_read(lambda c: st.volume_row(c, name).id)
        for suffix in ("idx", "btrfs-idx"):
            st.index_path(vol_id, suffix).unlink(missing_ok=True)
        row, snaps = st.catalog.run_write(_delete)
        driver = driver_of(row.driver)
        for snap in snaps:
            driver.delete_snapshot(st, snap)
        driver.delete_volume(st, st.volume_path(name))
        return st.to_volume(row, len(snaps))


def usage(name: str, *, home: str | None = None) -> Usage:
    """Logical size of the live tree, and what its snapshots store after dedup."""
    validate_name(name, "volume name")
    st = open_storage(home)

    def _q(conn):  # type: ignore[no-untyped-def]
        row = st.volume_row(conn, name)
        return row, conn.execute(select(S).where(S.c.volume_id == row.id)).all()

    row, snaps = st.catalog.run_read(_q)
    files, logical = _tree_size(st.volume_path(name))
    driver = driver_of(row.driver)
    sizes: dict[str, int] = {}
    snap_logical = 0
    for snap in snaps:
        manifest: Manifest = driver.manifest(st, row, snap)
        snap_logical += manifest.total_bytes
        for e in manifest.files:
            sizes[e.ref] = e.size
    stored = sum(sizes.values())
    over = row.size_limit is not None and logical > row.size_limit
    warning = (f"volume '{name}' uses {format_size(logical)}, over its size "
               f"{format_size(row.size_limit)}" if over else None)
    return Usage(volume=name, logical_bytes=logical, files=files, snapshots=len(snaps),
                 snapshot_logical_bytes=snap_logical, stored_bytes=stored,
                 dedup_ratio=round(snap_logical / stored, 3) if stored else 1.0,
                 size_limit=row.size_limit, over_size=over, warning=warning)
