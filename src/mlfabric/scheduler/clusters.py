"""Nodes that come from a cluster (the ``ray`` runtime's): the catalog follows what the
cluster says, on ``node sync`` and before every scheduling cycle, so a node that joined
is used and a node that left has its jobs evicted (they queue again) and its GPUs freed."""

from __future__ import annotations

import contextlib
import time

from sqlalchemy import Connection, delete, insert, select, update

from mlfabric.catalog import scheduler_schema as S
from mlfabric.errors import AlreadyExists, MlfabricError
from mlfabric.home import Home
from mlfabric.scheduler.runtimes import RUNTIMES, Cluster


def apply(conn: Connection, runtime: str, found: Cluster,
          now: float) -> tuple[list[str], list[str], list[str]]:
    """Make the catalog's nodes of ``runtime`` the ``found`` ones: (added, updated, removed)."""
    added: list[str] = []
    updated: list[str] = []
    removed: list[str] = []
    rows = {r.name: r for r in conn.execute(select(S.nodes))}
    pools = {r.name for r in conn.execute(select(S.node_pools.c.name))}
    for node in found.nodes:
        row = rows.get(node.name)
        if row is not None and row.runtime not in (None, runtime):
            raise AlreadyExists("node", node.name)
        if node.pool not in pools:
            conn.execute(insert(S.node_pools).values(name=node.pool, created_at=now))
            pools.add(node.pool)
        if row is None:
            conn.execute(insert(S.nodes).values(
                name=node.name, pool=node.pool, gpus=node.gpus, gpu_memory=node.gpu_memory,
                runtime=runtime, detected=True, created_at=now))
            added.append(node.name)
        elif (row.gpus, row.pool, row.runtime) != (node.gpus, node.pool, runtime):
            conn.execute(update(S.nodes).where(S.nodes.c.name == node.name).values(
                gpus=node.gpus, pool=node.pool, runtime=runtime))
            updated.append(node.name)
    live = {n.name for n in found.nodes}
    for name, row in rows.items():
        if row.runtime == runtime and name not in live:
            conn.execute(delete(S.nodes).where(S.nodes.c.name == name))
            removed.append(name)
    return added, updated, removed


def refresh(st: Home) -> None:
    """Re-read the cluster of every runtime that nodes run on and that has one; a cluster
    out of reach changes nothing (its jobs' own polls say what became of them)."""
    names = st.catalog.run_read(lambda c: {r.runtime for r in c.execute(select(S.nodes.c.runtime))})
    for name in sorted(n for n in names if n in RUNTIMES):
        runtime = RUNTIMES.get(name)
        if "nodes" not in runtime.capabilities:
            continue
        with contextlib.suppress(MlfabricError):
            found = runtime.discover(st.config.home, None)
            st.catalog.run_write(lambda c, n=name, f=found: apply(c, n, f, time.time()))


__all__ = ["apply", "refresh"]
