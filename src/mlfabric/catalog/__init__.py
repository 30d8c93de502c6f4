"""The catalog: SQLite (WAL) by default, any SQLAlchemy URL via ``MLFABRIC_CATALOG_URL``.

Writes run in ``BEGIN IMMEDIATE`` transactions on SQLite so concurrent CLI processes
queue on the database lock instead of failing; transient lock errors are retried.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from mlfabric.catalog import migrations, schema
from mlfabric.errors import Busy, MlfabricError, NotFound

__all__ = ["Catalog", "open_catalog", "schema"]

T = TypeVar("T")
_LOCK_WAIT_S = 60.0


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return "locked" in text or "busy" in text


class Catalog:
    """A connection factory with transaction helpers and retry on lock contention."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = self._make_engine(url)
        # A read first: every command opens the catalog, and a write transaction each
        # time would queue them all behind one another.
        if self.run_read(migrations.read_version) != migrations.LATEST:
            self.run_write(migrations.upgrade)

    def _make_engine(self, url: str) -> Engine:
        if not self.is_sqlite:
            return create_engine(url, pool_pre_ping=True)
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            _private_file(Path(path))
        # NullPool: a CLI process opens few connections; no pooled handle outlives a fork.
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": _LOCK_WAIT_S})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={int(_LOCK_WAIT_S * 1000)}")
            cur.execute("PRAGMA foreign_keys=ON")
            mode = cur.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if self.is_sqlite and write:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def _retry(self, fn: Callable[[Connection], T], write: bool) -> T:
        deadline = time.monotonic() + _LOCK_WAIT_S
        delay = 0.01
        while True:
            try:
                with self._transaction(write) as conn:
                    return fn(conn)
            except OperationalError as exc:
                if not _is_lock_error(exc):
                    raise MlfabricError(f"catalog error: {exc.orig or exc}") from exc
                if time.monotonic() > deadline:
                    raise Busy("the catalog is busy (locked by another process); try again",
                               resource="catalog") from exc
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)

    def run_read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in a read transaction, retrying on lock contention."""
        return self._retry(fn, write=False)

    def run_write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in a write transaction (committed on return), with retries."""
        return self._retry(fn, write=True)


_catalogs: dict[str, Catalog] = {}
_catalogs_lock = threading.Lock()


def _private_file(path: Path) -> None:
    """The SQLite file owner-only (0600) whatever the umask: it holds every project's
    records and the token hashes. SQLite gives its -wal and -shm files the same mode."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            if side.stat().st_mode & 0o077:
                os.chmod(side, 0o600)


def named_row(conn: Connection, table: Table, name: str, kind: str) -> Any:
    """The row of ``table`` whose ``name`` column is ``name``; ``NotFound(kind, name)``."""
    row = conn.execute(select(table).where(table.c.name == name)).first()
    if row is None:
        raise NotFound(kind, name)
    return row


def open_catalog(url: str) -> Catalog:
    """The process-wide catalog for ``url`` (created and migrated on first use)."""
    with _catalogs_lock:
        cat = _catalogs.get(url)
        if cat is None:
            cat = _catalogs[url] = Catalog(url)
        return cat
