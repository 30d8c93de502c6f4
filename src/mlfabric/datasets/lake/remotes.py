"""``remote add|list|remove``: named lake locations in the catalog.

A remote is a URL (local folder, ``s3://BUCKET/PREFIX``, ``memory://``), an optional S3
endpoint and fsspec options. Credentials are refused on the way in: they come from the
environment (``AWS_ACCESS_KEY_ID`` ...) or the standard config files at the time of use,
so the catalog never holds them and no command prints them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, func, select

from mlfabric.catalog import named_row, schema
from mlfabric.datasets.records import Remote
from mlfabric.datasets.remote import RemoteLake
from mlfabric.errors import AlreadyExists, Busy, InvalidInput
from mlfabric.home import Home, open_home
from mlfabric.names import validate_name
from mlfabric.transfer.urls import (
    DEFAULT_TIMEOUT,
    OBJECT_STORES,
    open_location,
    parse_options,
    protocol_of,
)

R, D = schema.remotes, schema.datasets


def _refuse_userinfo(url: str) -> None:
    parts = urlsplit(url.strip())
    if parts.scheme and "@" in (parts.netloc or ""):
        raise InvalidInput("a remote URL must not carry credentials (user:password@); set "
                           "them in the environment or the standard config files",
                           field="url")


def _to_remote(row: Any, datasets: int = 0) -> Remote:
    return Remote(name=row.name, url=row.url, endpoint_url=row.endpoint_url,
                  options=dict(row.options or {}), timeout=row.timeout,
                  created_at=row.created_at, datasets=datasets)


def remote_row(conn: Connection, name: str) -> Any:
    return named_row(conn, R, name, "remote")


def store_of(row: Any) -> RemoteLake:
    """The lake a remote row points at (no request is made yet)."""
    loc = open_location(row.url, endpoint_url=row.endpoint_url, options=row.options or {},
                        timeout=row.timeout)
    return RemoteLake(loc, row.name)


def open_remote(st: Home, name: str) -> RemoteLake:
    """The lake of the remote called ``name``."""
    return store_of(st.catalog.run_read(lambda c: remote_row(c, name)))


def add(name: str, url: str, *, endpoint_url: str | None = None,
        options: Sequence[str] | Mapping[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT, home: str | None = None) -> Remote:
    """Register a lake location; checks the URL and options, makes no request."""
    validate_name(name, "remote name")
    _refuse_userinfo(url)
    opts = parse_options(options)
    protocol = protocol_of(url)
    if protocol not in ("file", "memory") and protocol not in OBJECT_STORES:
        raise InvalidInput(f"unsupported remote URL '{url}': use a local folder, s3:// "
                           "or memory://", field="url")
    if endpoint_url and protocol not in ("s3", "s3a"):
        raise InvalidInput("--endpoint-url applies to s3:// remotes only", field="endpoint_url")
    loc = open_location(url, endpoint_url=endpoint_url, options=opts, timeout=timeout)
    st = open_home(home)

    def _insert(conn: Connection) -> Any:
        if conn.execute(select(R.c.id).where(R.c.name == name)).first():
            raise AlreadyExists("remote", name)
        conn.execute(R.insert().values(name=name, url=loc.display(), endpoint_url=endpoint_url,
                                       options=opts, timeout=float(timeout),
                                       created_at=time.time()))
        return remote_row(conn, name)

    return _to_remote(st.catalog.run_write(_insert))


def _counts(conn: Connection) -> dict[int, int]:
    rows = conn.execute(select(D.c.remote_id, func.count()).group_by(D.c.remote_id))
    return {rid: n for rid, n in rows}


def list_remotes(*, home: str | None = None) -> list[Remote]:
    """Every remote, by name, with how many datasets live on it."""
    st = open_home(home)

    def _q(conn: Connection) -> list[Remote]:
        counts = _counts(conn)
        return [_to_remote(r, counts.get(r.id, 0))
                for r in conn.execute(select(R).order_by(R.c.name))]

    return st.catalog.run_read(_q)


def remove(name: str, *, force: bool = False, home: str | None = None) -> Remote:
    """Forget a remote; with datasets only when ``force`` (their catalog records go with
    it; the lake itself is never touched)."""
    validate_name(name, "remote name")
    st = open_home(home)

    def _delete(conn: Connection) -> Remote:
        row = remote_row(conn, name)
        n = _counts(conn).get(row.id, 0)
        if n and not force:
            raise Busy(f"remote '{name}' has {n} dataset(s) in the catalog; use --force to "
                       "forget them with it (the data in the lake stays)", resource=name)
        ds_ids = [r.id for r in conn.execute(select(D.c.id).where(D.c.remote_id == row.id))]
        if ds_ids:
            v = schema.dataset_versions
            conn.execute(v.delete().where(v.c.dataset_id.in_(ds_ids)))
            conn.execute(D.delete().where(D.c.id.in_(ds_ids)))
        conn.execute(R.delete().where(R.c.id == row.id))
        return _to_remote(row, n)

    return st.catalog.run_write(_delete)
