"""``cache config --pool P --path DIR --size 200Gi --ttl 1d --high 0.9 --low 0.8``.

The ``default`` pool is created on first use at ``$MLFABRIC_HOME/cache/default`` with a
budget of a quarter of its file system; ``cache config`` changes it or adds other pools.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from mlfabric.catalog import named_row, schema
from mlfabric.datasets.cache.evict import Limits
from mlfabric.datasets.records import Pool
from mlfabric.errors import Busy, InvalidInput
from mlfabric.home import Home, open_home
from mlfabric.names import check_text, validate_name
from mlfabric.units import parse_duration, parse_size

P, E = schema.cache_pools, schema.cache_entries
DEFAULT_POOL = "default"
DEFAULT_TTL = 86400.0
DEFAULT_HIGH = 0.9
DEFAULT_LOW = 0.8
DEFAULT_SHARE = 0.25  # of the file system, for a pool created without --size


def to_pool(row: Any) -> Pool:
    return Pool(name=row.name, path=row.path, budget=row.budget, ttl=row.ttl, high=row.high,
                low=row.low, created_at=row.created_at)


def limits_of(row: Any) -> Limits:
    return Limits(budget=row.budget, high=row.high, low=row.low, ttl=row.ttl)


def pool_row(conn: Connection, name: str) -> Any:
    return named_row(conn, P, name, "cache pool")


def _default_budget(path: Path) -> int:
    probe = path
    while not probe.exists():
        probe = probe.parent
    fs = os.statvfs(probe)
    return max(1, int(fs.f_blocks * fs.f_frsize * DEFAULT_SHARE))


def _check_path(conn: Connection, name: str, path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise InvalidInput(f"cache path {path} exists and is not a directory", field="path")
    mine = str(path).rstrip("/") + "/"
    for other in conn.execute(select(P.c.name, P.c.path).where(P.c.name != name)):
        theirs = other.path.rstrip("/") + "/"
        if mine.startswith(theirs) or theirs.startswith(mine):
            raise InvalidInput(f"cache path {path} overlaps pool '{other.name}' at "
                               f"{other.path}", field="path")


def get_pool(st: Home, name: str | None) -> Any:
    """The pool row called ``name`` (``default`` when None, created on first use)."""
    name = validate_name(name or DEFAULT_POOL, "pool name")

    def _q(conn: Connection) -> Any:
        row = conn.execute(select(P).where(P.c.name == name)).first()
        if row is not None or name != DEFAULT_POOL:
            return row if row is not None else pool_row(conn, name)
        path = st.config.home / "cache" / DEFAULT_POOL
        _check_path(conn, name, path)
        conn.execute(P.insert().values(name=name, path=str(path),
                                       budget=_default_budget(path), ttl=DEFAULT_TTL,
                                       high=DEFAULT_HIGH, low=DEFAULT_LOW,
                                       created_at=time.time(), hits=0, misses=0, evictions=0,
                                       bytes_fetched=0, bytes_evicted=0))
        return pool_row(conn, name)

    row = st.catalog.run_read(lambda c: c.execute(select(P).where(P.c.name == name)).first())
    return row if row is not None else st.catalog.run_write(_q)


def configure(pool: str = DEFAULT_POOL, *, path: str | os.PathLike[str] | None = None,
              size: str | int | None = None, ttl: str | float | None = None,
              high: float | None = None, low: float | None = None,
              home: str | None = None) -> Pool:
    """Create a pool or change its settings; a new size or watermark applies at the next
    add or sweep. Moving a pool that holds entries is refused."""
    validate_name(pool, "pool name")
    if path is not None:
        check_text(os.fspath(path), "path")
    new_path = Path(path).expanduser().absolute() if path is not None else None
    budget = parse_size(size) if size is not None else None
    ttl_s = parse_duration(ttl) if ttl is not None else None
    st = open_home(home)

    def _write(conn: Connection) -> Any:
        row = conn.execute(select(P).where(P.c.name == pool)).first()
        target = new_path or (Path(row.path) if row else st.config.home / "cache" / pool)
        _check_path(conn, pool, target)
        values = {
            "path": str(target),
            "budget": budget if budget is not None else (
                row.budget if row else _default_budget(target)),
            "ttl": ttl_s if ttl_s is not None else (row.ttl if row else DEFAULT_TTL),
            "high": high if high is not None else (row.high if row else DEFAULT_HIGH),
            "low": low if low is not None else (row.low if row else DEFAULT_LOW),
        }
        Limits(values["budget"], values["high"], values["low"], values["ttl"]).validate()
        if row is None:
            conn.execute(P.insert().values(name=pool, created_at=time.time(), hits=0,
                                           misses=0, evictions=0, bytes_fetched=0,
                                           bytes_evicted=0, **values))
        else:
            if str(target) != row.path and conn.execute(
                    select(func.count()).where(E.c.pool_id == row.id)).scalar_one():
                raise Busy(f"cache pool '{pool}' holds entries at {row.path}; remove them "
                           "before moving it", resource=pool)
            conn.execute(P.update().where(P.c.id == row.id).values(**values))
        return pool_row(conn, pool)

    row = st.catalog.run_write(_write)
    Path(row.path).mkdir(parents=True, exist_ok=True)
    return to_pool(row)


def list_pools(*, home: str | None = None) -> list[Pool]:
    """Every configured pool, by name."""
    st = open_home(home)
    return st.catalog.run_read(lambda c: [to_pool(r) for r in
                                          c.execute(select(P).order_by(P.c.name))])
