"""Nodes and node pools in the catalog: ``mlfabric node add|list|remove|sync``."""

from __future__ import annotations

import socket
import time

from sqlalchemy import Connection, delete, select

from mlfabric.catalog import scheduler_schema as S
from mlfabric.errors import AlreadyExists, InvalidInput
from mlfabric.home import open_home
from mlfabric.names import validate_name
from mlfabric.scheduler import clusters, jobstore, loop
from mlfabric.scheduler.gpus import detect_gpus
from mlfabric.scheduler.model import DEFAULT_POOL, Node, check_node
from mlfabric.scheduler.reconcile import reconcile
from mlfabric.scheduler.records import NodeInfo, NodeSync
from mlfabric.scheduler.runtimes import check_runtime, get_runtime
from mlfabric.units import parse_size


def _local_name() -> str:
    raw = socket.gethostname().split(".")[0].lower()
    name = "".join(c if c.isalnum() else "-" for c in raw).strip("-")[:63]
    return name or "local"


def _ensure_pool(conn: Connection, pool: str, now: float) -> None:
    if conn.execute(select(S.node_pools.c.name).where(S.node_pools.c.name == pool)).first():
        return
    conn.execute(S.node_pools.insert().values(name=pool, created_at=now))


def add(name: str | None = None, *, gpus: int | None = None, gpu_memory: str | int | None = None,
        pool: str = DEFAULT_POOL, runtime: str | None = None, detect: bool = False,
        home: str | None = None) -> NodeInfo:
    """Declare a node (or, with ``detect``, this machine's GPUs from nvidia-smi)."""
    detected = False
    if detect:
        found = detect_gpus()
        if found is None:
            raise InvalidInput("nvidia-smi is not installed here: declare the node with "
                               "--gpus N instead of --detect", field="detect")
        gpus = gpus if gpus is not None else found.count
        gpu_memory = gpu_memory if gpu_memory is not None else found.memory
        name = name or _local_name()
        detected = True
    if name is None:
        raise InvalidInput("give a node name (or --detect)", field="name")
    if gpus is None:
        raise InvalidInput(f"node '{name}': give --gpus N (or --detect on a machine with "
                           "nvidia-smi)", field="gpus")
    memory = parse_size(gpu_memory) if gpu_memory is not None else 0
    node = check_node(Node(validate_name(name, "node name"), gpus=gpus, gpu_memory=memory,
                           pool=pool))
    if runtime is not None:
        check_runtime(runtime)
    st = open_home(home)
    now = time.time()

    def _write(conn: Connection) -> None:
        if conn.execute(select(S.nodes.c.name).where(S.nodes.c.name == node.name)).first():
            raise AlreadyExists("node", node.name)
        _ensure_pool(conn, node.pool, now)
        conn.execute(S.nodes.insert().values(name=node.name, pool=node.pool, gpus=node.gpus,
                                             gpu_memory=node.gpu_memory, runtime=runtime,
                                             detected=detected, created_at=now))

    st.catalog.run_write(_write)
    loop.cycle(home=home)
    return show(node.name, home=home)


def ensure_detected(home: str | None = None) -> NodeInfo | None:
    """If no node is declared and nvidia-smi exists, add this machine; else do nothing."""
    st = open_home(home)
    if st.catalog.run_read(lambda c: c.execute(select(S.nodes.c.name)).first()) is not None:
        return None
    if detect_gpus() is None:
        return None
    return add(detect=True, home=home)


def _allocations(conn: Connection) -> dict[str, float]:
    out: dict[str, float] = {}
    for row in conn.execute(select(S.jobs).where(S.jobs.c.state == "Running")):
        for p in jobstore.placements_of(row):
            share = p.fraction if p.fraction is not None else len(p.gpus)
            out[p.node] = out.get(p.node, 0.0) + share
    return out


def list_nodes(*, home: str | None = None) -> list[NodeInfo]:
    """Every node, by name, with the GPUs allocated on it."""
    st = open_home(home)
    reconcile(st)

    def _q(conn: Connection) -> list[NodeInfo]:
        alloc = _allocations(conn)
        return [jobstore.to_node_info(r, alloc.get(r.name, 0.0))
                for r in conn.execute(select(S.nodes).order_by(S.nodes.c.name))]

    return st.catalog.run_read(_q)


def show(name: str, *, home: str | None = None) -> NodeInfo:
    """One node."""
    st = open_home(home)
    reconcile(st)

    def _q(conn: Connection) -> NodeInfo:
        row = jobstore.node_row(conn, name)
        return jobstore.to_node_info(row, _allocations(conn).get(name, 0.0))

    return st.catalog.run_read(_q)


def remove(name: str, *, home: str | None = None) -> NodeInfo:
    """Remove a node; jobs running on it are preempted and queue again."""
    st = open_home(home)
    node = show(name, home=home)

    def _write(conn: Connection) -> None:
        conn.execute(delete(S.nodes).where(S.nodes.c.name == name))

    st.catalog.run_write(_write)
    loop.cycle(home=home)
    return node


def sync(*, runtime: str = "ray", address: str | None = None,
         home: str | None = None) -> NodeSync:
    """Make the catalog's nodes of ``runtime`` the live nodes of its cluster: add the new,
    update the changed, remove the gone (their running jobs are evicted and queue again,
    their GPUs freed in the ledger)."""
    rt = get_runtime(check_runtime(runtime))
    st = open_home(home)
    found = rt.discover(st.config.home, address)
    added, updated, removed = st.catalog.run_write(
        lambda conn: clusters.apply(conn, runtime, found, time.time()))
    loop.cycle(home=home)
    nodes = [n for n in list_nodes(home=home) if n.name in {m.name for m in found.nodes}]
    return NodeSync(runtime, found.address, added, updated, removed, nodes, found.labels,
                    found.note)


__all__ = ["add", "ensure_detected", "list_nodes", "remove", "show", "sync"]
