"""The transfer journal in the catalog: runs (jobs) and the files each finished.

A run registers itself with its pid; a run of the same pair that finds a ``running``
job whose process is gone (killed, crashed) takes over from it: it removes that job's
temporary files and, through the per-file rows, skips what that job had finished.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from mlfabric.catalog import Catalog, open_catalog, schema
from mlfabric.config import load_config
from mlfabric.errors import Busy
from mlfabric.transfer.plan import JournalRecord

# A job on another host counts as dead once it has not written for this long.
STALE_AFTER_S = 600.0
_BATCH = 500  # rows per statement (SQLite caps bound parameters)


@dataclass(frozen=True)
class Job:
    id: int
    pair: str
    kind: str
    src: str
    dst: str
    state: str
    started_at: float
    finished_at: float | None
    pid: int | None
    summary: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "src": self.src, "dst": self.dst,
                "state": self.state, "started_at": self.started_at,
                "finished_at": self.finished_at, "pid": self.pid, "summary": self.summary}


@dataclass(frozen=True)
class Started:
    job_id: int
    interrupted: list[int]  # ids of interrupted runs of this pair this run goes on from


def _file_key(pair: str, path: str) -> str:
    return hashlib.sha256(f"{pair}\n{path}".encode()).hexdigest()


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a reused pid apart), where known."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(row: Any, now: float) -> bool:
    if row.host != socket.gethostname() or row.pid is None:
        return now - row.heartbeat_at < STALE_AFTER_S
    try:
        os.kill(row.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = _process_start(row.pid)
    return row.proc_start is None or start is None or start == row.proc_start


def _to_job(row: Any) -> Job:
    return Job(id=row.id, pair=row.pair, kind=row.kind, src=row.src, dst=row.dst,
               state=row.state, started_at=row.started_at, finished_at=row.finished_at,
               pid=row.pid, summary=row.summary)


class Journal:
    """Catalog access for transfer runs."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None) -> Journal:
        config = load_config(home)
        config.home.mkdir(parents=True, exist_ok=True)
        return cls(open_catalog(config.catalog_url))

    # -- jobs ---------------------------------------------------------------------------
    def start(self, *, pair: str, kind: str, src: str, dst: str,
              options: dict[str, Any]) -> Started:
        """Register a run of ``pair``; raises ``Busy`` while another live run has it."""
        j = schema.transfer_jobs
        pid = os.getpid()

        def txn(conn: Connection) -> Started:
            now = time.time()
            running = conn.execute(select(j).where(j.c.pair == pair,
                                                   j.c.state == "running")).all()
            dead = []
            for row in running:
                if _alive(row, now):
                    raise Busy(f"a transfer from {src} to {dst} is already running "
                               f"(job {row.id}, pid {row.pid} on {row.host})",
                               resource=f"transfer-job-{row.id}")
                dead.append(row.id)
            if dead:
                conn.execute(update(j).where(j.c.id.in_(dead))
                             .values(state="interrupted", finished_at=now))
            last = conn.execute(select(j.c.id, j.c.state).where(j.c.pair == pair)
                                .order_by(j.c.id.desc()).limit(1)).first()
            if last is not None and last.state == "interrupted" and last.id not in dead:
                dead.append(last.id)  # stopped by Ctrl-C: this run goes on from it
            job_id = conn.execute(insert(j).values(
                pair=pair, kind=kind, src=src, dst=dst, options=options, state="running",
                pid=pid, host=socket.gethostname(), proc_start=_process_start(pid),
                started_at=now, heartbeat_at=now)).inserted_primary_key[0]
            return Started(int(job_id), dead)

        return self.catalog.run_write(txn)

    def finish(self, job_id: int, state: str, summary: dict[str, Any] | None) -> None:
        j = schema.transfer_jobs
        now = time.time()
        self.catalog.run_write(lambda conn: conn.execute(
            update(j).where(j.c.id == job_id).values(state=state, finished_at=now,
                                                     heartbeat_at=now, summary=summary)))

    def jobs(self, pair: str | None = None) -> list[Job]:
        """Runs, newest first (all pairs when ``pair`` is None)."""
        j = schema.transfer_jobs
        q = select(j).order_by(j.c.id.desc())
        if pair is not None:
            q = q.where(j.c.pair == pair)
        return [_to_job(r) for r in self.catalog.run_read(lambda c: c.execute(q).all())]

    def owned_by(self, pair: str, job_ids: Iterable[int]) -> set[int]:
        """Those of ``job_ids`` that are finished runs of ``pair`` (their temps are ours)."""
        ids = list(set(job_ids))
        if not ids:
            return set()
        j = schema.transfer_jobs
        q = select(j.c.id).where(j.c.pair == pair, j.c.state != "running", j.c.id.in_(ids))
        return {r[0] for r in self.catalog.run_read(lambda c: c.execute(q).all())}

    # -- files --------------------------------------------------------------------------
    def records(self, pair: str) -> dict[str, JournalRecord]:
        """What earlier runs of ``pair`` finished, by relative path."""
        f = schema.transfer_files
        rows = self.catalog.run_read(lambda c: c.execute(
            select(f).where(f.c.pair == pair)).all())
        return {r.path: JournalRecord(path=r.path, src_size=r.src_size, src_mtime=r.src_mtime,
                                      dst_size=r.dst_size, dst_token=r.dst_token,
                                      checksum=r.checksum) for r in rows}

    def files(self, pair: str) -> list[dict[str, Any]]:
        """Raw per-file rows of ``pair`` (path, job_id, copied_at, ...)."""
        f = schema.transfer_files
        rows = self.catalog.run_read(lambda c: c.execute(
            select(f).where(f.c.pair == pair).order_by(f.c.path)).all())
        return [dict(r._mapping) for r in rows]

    def record(self, pair: str, job_id: int, done: list[JournalRecord]) -> None:
        """Remember finished copies (replacing older rows of the same paths)."""
        if not done:
            return
        f, j = schema.transfer_files, schema.transfer_jobs
        now = time.time()

        def txn(conn: Connection) -> None:
            for i in range(0, len(done), _BATCH):
                batch = done[i:i + _BATCH]
                keys = [_file_key(pair, r.path) for r in batch]
                conn.execute(delete(f).where(f.c.key.in_(keys)))
                conn.execute(insert(f), [
                    {"key": k, "pair": pair, "path": r.path, "src_size": r.src_size,
                     "src_mtime": r.src_mtime, "dst_size": r.dst_size,
                     "dst_token": r.dst_token, "checksum": r.checksum, "job_id": job_id,
                     "copied_at": now} for k, r in zip(keys, batch, strict=True)])
            conn.execute(update(j).where(j.c.id == job_id).values(heartbeat_at=now))

        self.catalog.run_write(txn)

    def forget(self, pair: str, paths: list[str]) -> None:
        """Drop the rows of files deleted at the destination."""
        if not paths:
            return
        f = schema.transfer_files

        def txn(conn: Connection) -> None:
            for i in range(0, len(paths), _BATCH):
                keys = [_file_key(pair, p) for p in paths[i:i + _BATCH]]
                conn.execute(delete(f).where(f.c.key.in_(keys)))

        self.catalog.run_write(txn)
