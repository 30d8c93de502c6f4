"""A real multi-node Ray cluster on this machine, on loopback only: a head (no GPUs) and
two worker nodes with 4 fake GPUs each, labelled with the mlfabric node names they
become (``mlfabric.io/node``). Started once per session (``ray_bed``), torn down at the
end with every process it started."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from mlfabric import proctree

LOOPBACK = "127.0.0.1"
GPUS_PER_WORKER = 4
WORKERS = ("ray-a", "ray-b")
# the cache pool a worker's jobs lease their datasets from (``mlfabric.io/cache-pool``);
# the others use the default pool
CACHE_POOLS = {"ray-b": "near"}


def node_args(**extra: Any) -> dict[str, Any]:
    """Arguments every node of the bed starts with: loopback only, small, no dashboard."""
    return {"node_ip_address": LOOPBACK, "include_dashboard": False, "num_cpus": 4,
            "object_store_memory": 80 * 1024 * 1024, "include_log_monitor": False, **extra}


@dataclass
class RayBed:
    """The started cluster: its GCS address and the worker nodes by mlfabric name."""

    cluster: Any
    workers: dict[str, Any] = field(default_factory=dict)
    started: list[Any] = field(default_factory=list)  # every Popen, reaped at the end

    def keep(self, node: Any) -> Any:
        self.started += [i.process for infos in node.all_processes.values() for i in infos
                         if i.process is not None]
        return node

    def reap(self) -> None:
        for popen in self.started:
            with contextlib.suppress(Exception):
                popen.wait(timeout=10)

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def add_worker(self, name: str, gpus: int = GPUS_PER_WORKER,
                   labels: dict[str, str] | None = None) -> Any:
        node = self.keep(self.cluster.add_node(**node_args(
            num_gpus=gpus, labels={"mlfabric.io/node": name, **(labels or {})})))
        self.workers[name] = node
        return node

    def remove_worker(self, name: str) -> None:
        """Kill a worker node (no goodbye) and wait until Ray has noticed."""
        import ray

        node = self.workers.pop(name)
        self.cluster.remove_node(node, allow_graceful=False)
        deadline = time.monotonic() + 30
        while any(n["NodeID"] == node.node_id and n["Alive"] for n in ray.nodes()):
            assert time.monotonic() < deadline, f"Ray still sees node {name} alive"
            time.sleep(0.1)

    def pids(self) -> list[int]:
        """Every process the bed's nodes started (raylets, GCS, agents, workers below)."""
        out: set[int] = set()
        for node in [self.cluster.head_node, *self.cluster.worker_nodes]:
            for infos in node.all_processes.values():
                for info in infos:
                    if info.process is not None:
                        out |= {info.process.pid,
                                *(pid for pid, _ in proctree.descendants(info.process.pid))}
        return sorted(out)


def listening(pids: list[int]) -> set[tuple[str, int]]:
    """The (address, port) pairs on which any of ``pids`` listens for TCP connections."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    out: set[tuple[str, int]] = set()
    for table, width in (("tcp", 4), ("tcp6", 16)):
        with open(f"/proc/net/{table}") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                    addr, port = cols[1].split(":")
                    out.add((_address(addr, width), int(port, 16)))
    return out


def _address(hexaddr: str, width: int) -> str:
    raw = bytes.fromhex(hexaddr)
    # /proc/net/tcp* prints each 32-bit word in host (little-endian) order
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, width, 4))
    ip = ipaddress.ip_address(raw)
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    return str(mapped or ip)


@pytest.fixture(scope="session")
def ray_bed() -> Iterator[RayBed]:
    """The session's Ray cluster (started on first use)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, shutdown_at_exit=False,
                      head_node_args=node_args(num_gpus=0, _system_config={
                          # a killed node is seen dead in about a second
                          "health_check_period_ms": 300, "health_check_failure_threshold": 3}))
    bed = RayBed(cluster)
    bed.keep(cluster.head_node)
    try:
        for name in WORKERS:
            bed.add_worker(name, labels={"mlfabric.io/cache-pool": CACHE_POOLS[name]}
                           if name in CACHE_POOLS else None)
        cluster.wait_for_nodes()
        yield bed
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
        bed.reap()
