"""The ``ray`` runtime: mlfabric decides, a Ray cluster executes.

Each process of a job is started by a detached, named Ray actor (namespace ``mlfabric``)
pinned to the Ray node the cycle chose: a job of one process by a hard node-affinity
strategy, a gang by a placement group with one bundle per process, each bundle held to
its chosen node by a ``ray.io/node-id`` label selector. The actor asks Ray for the GPUs
mlfabric gave the process (``num_gpus``, fractions too), so Ray's accounting matches the
ledger, and runs the command exactly as the ``local`` runtime does on its own node (the
same sandbox, ``launch`` recording the exit code), with ``CUDA_VISIBLE_DEVICES`` as Ray
assigned it. The handle in the catalog names the cluster, the actor and the placement
group, so any CLI process or a restarted daemon finds the run again; poll, stop, logs and
exec go through the actor.

Volumes: the home's folders (volumes, job folders) must be at the same path on every Ray
node (a shared file system; one machine is the trivial case).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlfabric.durable import atomic_write
from mlfabric.errors import InvalidInput, MlfabricError
from mlfabric.names import validate_name
from mlfabric.scheduler import engines
from mlfabric.scheduler.model import Node
from mlfabric.scheduler.runtimes.base import Cluster, Outcome, Process, Run, Runtime, judge

ADDRESS_ENV = "MLFABRIC_RAY_ADDRESS"
NAMESPACE = "mlfabric"
NODE_LABEL = "mlfabric.io/node"  # a Ray node's mlfabric name (default: ray-<node id>)
POOL_LABEL = "mlfabric.io/pool"  # its node pool (default: default)
CACHE_POOL_LABEL = "mlfabric.io/cache-pool"  # where its jobs' datasets are cached
_NODE_ID = "ray.io/node-id"
START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 30.0
SHARED_PATH_NOTE = ("volumes: the home's folders must be at the same path on every Ray "
                    "node (a shared file system; one machine is the trivial case)")


# -- the cluster ---------------------------------------------------------------------------
def address_file(home: Path) -> Path:
    """Where ``node sync --runtime ray`` keeps the cluster's address for later cycles."""
    return home / "ray" / "address"


def address(home: Path | None = None) -> str:
    """``$MLFABRIC_RAY_ADDRESS``, else the address ``node sync`` saved in ``home``."""
    found = os.environ.get(ADDRESS_ENV, "").strip()
    if not found and home is not None:
        with contextlib.suppress(FileNotFoundError):
            found = address_file(home).read_text().strip()
    if not found:
        raise InvalidInput(f"no Ray cluster: give --address HOST:PORT or set {ADDRESS_ENV}",
                           field="address")
    return found


def connect(addr: str) -> Any:
    """This process's connection to the Ray cluster at ``addr`` (made once)."""
    host, port = _host_port(addr)
    loopback = host.startswith("127.") or host == "localhost"
    if loopback:  # else Ray swaps 127.0.0.1 for this machine's address (read at import)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise InvalidInput("the ray runtime needs Ray: pip install 'mlfabric[ray]'",
                           field="runtime") from None
    if ray.is_initialized() and _CONNECTED.get("address") == addr:
        return ray
    try:  # Ray itself waits minutes for a cluster that is not there
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise MlfabricError(f"cannot reach the Ray cluster at {addr}: {exc}") from None
    if ray.is_initialized():
        ray.shutdown()
    extra: dict[str, Any] = {"_node_ip_address": "127.0.0.1"} if loopback else {}
    try:
        ray.init(address=addr, namespace=NAMESPACE, log_to_driver=False,
                 logging_level="ERROR", configure_logging=False, **extra)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise MlfabricError(f"cannot reach the Ray cluster at {addr}: {exc}") from None
    _CONNECTED["address"] = addr
    return ray


_CONNECTED: dict[str, str] = {}


def _host_port(addr: str) -> tuple[str, int]:
    parts = urlsplit(f"//{addr}")
    try:
        port = parts.port or 6379
    except ValueError:
        port = 0
    if not parts.hostname or not port or parts.path or parts.query:
        raise InvalidInput(f"invalid Ray address '{addr}': expected HOST:PORT",
                           field="address", value=addr)
    return parts.hostname, port


@dataclass(frozen=True)
class RayNode:
    """A live Ray node as mlfabric sees it."""

    name: str
    node_id: str
    gpus: int
    pool: str
    address: str
    labels: dict[str, str]


def _node_name(node: dict[str, Any]) -> str:
    label = (node.get("Labels") or {}).get(NODE_LABEL, "")
    with contextlib.suppress(InvalidInput):
        return validate_name(label, "node name")
    return f"ray-{node['NodeID'][:12]}"


def ray_nodes(addr: str) -> list[RayNode]:
    """The live nodes of the cluster at ``addr`` that have GPUs, by name (a node without
    any, such as a head kept for the cluster's services, runs no scheduled job)."""
    ray = connect(addr)
    out = []
    for n in ray.nodes():
        if not n.get("Alive") or int(n["Resources"].get("GPU", 0)) < 1:
            continue
        labels = {str(k): str(v) for k, v in (n.get("Labels") or {}).items()}
        out.append(RayNode(_node_name(n), n["NodeID"], int(n["Resources"].get("GPU", 0)),
                           labels.get(POOL_LABEL) or "default", n["NodeManagerAddress"],
                           labels))
    return sorted(out, key=lambda n: n.name)


def _node_ids(addr: str, names: set[str]) -> dict[str, RayNode]:
    found = {n.name: n for n in ray_nodes(addr) if n.name in names}
    for missing in sorted(names - set(found)):
        raise MlfabricError(f"node '{missing}' is not a live node of the Ray cluster at {addr}")
    return found


# -- what runs on the node: one actor per process -------------------------------------------
class RankActor:
    """Runs one process of a job on its Ray node, as the local runtime would there."""

    def __init__(self, run: Run, rank: int) -> None:
        from mlfabric.scheduler.runtimes.local import LocalRuntime

        self.local = LocalRuntime()
        self.run = run
        self.rank = rank
        self.proc: Process | None = None
        self.variables: dict[str, str] = {}

    def where(self) -> dict[str, Any]:
        """This node's id and address, Ray's GPUs for it and a free port (for rank 0)."""
        import ray

        from mlfabric.scheduler.runtimes.local import free_port

        ctx = ray.get_runtime_context()
        return {"node_id": ctx.get_node_id(), "ip": ray.util.get_node_ip_address(),
                "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", ""), "port": free_port()}

    def start(self, variables: dict[str, str]) -> dict[str, Any]:
        from mlfabric.scheduler.runtimes.local import confinement

        if self.rank == 0:
            self.local.prepare(self.run)
        self.run.job_dir.mkdir(parents=True, exist_ok=True)
        self.variables = dict(variables)
        self.proc = self.local.start_rank(self.run, self.rank, confinement(self.run),
                                          variables)
        return dict(self.proc.handle)

    def _one(self) -> Run:
        assert self.proc is not None
        return replace(self.run, processes=(self.proc,))

    def code(self) -> int | bool | None:
        return False if self.proc is None else self.local.code(self.run, self.proc)

    def stop(self, grace_s: float) -> None:
        if self.proc is not None:
            self.local.stop(self._one(), grace_s)

    def read_log(self, offset: int, limit: int = 1 << 20) -> bytes:
        try:
            with open(self.run.log_path(self.rank), "rb") as f:
                f.seek(offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""

    def exec(self, command: list[str]) -> tuple[int, bytes]:
        import subprocess

        argv, env, cwd = self.local.exec_with(self._one(), command, self.variables)
        done = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        return done.returncode, done.stdout


def _share(run: Run, rank: int) -> float:
    pl = run.placements[rank]
    return float(pl.fraction) if pl.fraction is not None else float(len(pl.gpus))


def _prefix(run: Run) -> str:
    return f"{run.project}.{run.job}.{int(run.started_at * 1000)}"


def _actor(ray: Any, proc: Process) -> Any:
    return ray.get_actor(proc.handle["actor"], namespace=NAMESPACE)


@dataclass
class _Starting:
    """A run whose actors Ray was asked for (``RayRuntime._begin``)."""

    run: Run
    addr: str
    prefix: str
    nodes: list[str]
    pg: Any = None
    actors: list[Any] = field(default_factory=list)
    where: list[Any] = field(default_factory=list)  # each actor's ``where`` call


def _undo(ray: Any, at: _Starting, exc: BaseException) -> BaseException:
    """Kill what a failed start made; the error to raise in its place (an
    ``MlfabricError`` for Ray's own, anything else as it was)."""
    for actor in at.actors:
        with contextlib.suppress(Exception):
            ray.kill(actor)
    if at.pg is not None:
        with contextlib.suppress(Exception):
            ray.util.remove_placement_group(at.pg)
    if isinstance(exc, MlfabricError):
        return exc
    if isinstance(exc, ray.exceptions.RayError | TimeoutError):
        return MlfabricError(f"Ray could not start {at.prefix}: {exc}")
    return exc


class RayRuntime(Runtime):
    """Jobs as detached Ray actors on the nodes mlfabric chose."""

    name = "ray"
    capabilities = frozenset({"processes", "nodes"})

    def _ray(self, run: Run) -> Any:
        addr = run.processes[0].handle["address"] if run.processes else \
            address(run.job_dir.parents[2])
        return connect(addr)

    def start(self, run: Run) -> tuple[Process, ...]:
        return self._finish(self._begin(run))

    def start_all(self, runs: Sequence[Run]) -> list[tuple[Process, ...] | MlfabricError]:
        """Ask Ray for every run's actors first, then wait for each: the worker
        processes of all the runs start side by side, not one run after another."""
        begun: list[_Starting | MlfabricError] = []
        for run in runs:
            try:
                begun.append(self._begin(run))
            except MlfabricError as exc:
                begun.append(exc)
        out: list[tuple[Process, ...] | MlfabricError] = []
        for b in begun:
            try:
                out.append(b if isinstance(b, MlfabricError) else self._finish(b))
            except MlfabricError as exc:
                out.append(exc)
        return out

    def _begin(self, run: Run) -> _Starting:
        """Reserve the run's placement group and create its actors, without waiting."""
        if not run.spec.get("command"):
            raise InvalidInput(f"job '{run.project}/{run.job}' has no command to run on the "
                               "ray runtime", field="command")
        addr = address(run.job_dir.parents[2])
        ray = connect(addr)
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import (
            NodeAffinitySchedulingStrategy,
            PlacementGroupSchedulingStrategy,
        )

        nodes = _node_ids(addr, {p.node for p in run.placements})
        at = _Starting(run, addr, _prefix(run), sorted(nodes))
        try:
            if len(run.placements) > 1:
                bundles = [{"GPU": s} if (s := _share(run, r)) else {"CPU": 0.01}
                           for r in range(len(run.placements))]
                at.pg = placement_group(
                    bundles, strategy="PACK", name=at.prefix, lifetime="detached",
                    bundle_label_selector=[{_NODE_ID: nodes[p.node].node_id}
                                           for p in run.placements])
            cls = ray.remote(RankActor)
            for rank, pl in enumerate(run.placements):
                strategy = PlacementGroupSchedulingStrategy(
                    at.pg, placement_group_bundle_index=rank) if at.pg is not None else \
                    NodeAffinitySchedulingStrategy(nodes[pl.node].node_id, soft=False)
                at.actors.append(cls.options(
                    name=f"{at.prefix}.{rank}", namespace=NAMESPACE, lifetime="detached",
                    num_cpus=0, num_gpus=_share(run, rank), max_restarts=0,
                    scheduling_strategy=strategy).remote(run, rank))
            at.where = [a.where.remote() for a in at.actors]
        except BaseException as exc:
            raise _undo(ray, at, exc) from None
        return at

    def _finish(self, at: _Starting) -> tuple[Process, ...]:
        """Wait for the actors of a begun run and start its processes."""
        from mlfabric.scheduler.runtimes.local import process_env

        ray, run = connect(at.addr), at.run
        try:
            if at.pg is not None and not at.pg.wait(START_TIMEOUT_S):
                raise MlfabricError(f"Ray could not reserve the placement group {at.prefix} "
                                    f"on {', '.join(at.nodes)} in {START_TIMEOUT_S:g} s")
            where = ray.get(at.where, timeout=START_TIMEOUT_S)
            master = where[0]
            out = []
            for rank, (actor, here) in enumerate(zip(at.actors, where, strict=True)):
                variables = process_env(run, rank, int(master["port"]))
                variables |= {"CUDA_VISIBLE_DEVICES": here["gpus"],
                              "MASTER_ADDR": master["ip"],
                              "MLFABRIC_RAY_NODE_ID": here["node_id"]}
                local = ray.get(actor.start.remote(variables), timeout=START_TIMEOUT_S)
                out.append(Process(rank, {"address": at.addr, "actor": f"{at.prefix}.{rank}",
                                          "placement_group": at.pg is not None and at.prefix,
                                          "node_id": here["node_id"], "ip": here["ip"],
                                          "gpus": here["gpus"], "local": local}))
            return tuple(out)
        except BaseException as exc:
            raise _undo(ray, at, exc) from None

    def _codes(self, run: Run) -> dict[int, int | bool | None]:
        """Each rank's exit code as its actor reads it; once the actor is gone (the run
        was stopped, or its node left), the code ``launch`` left on the shared path, else
        False: vanished without one."""
        from mlfabric.scheduler.runtimes.local import LocalRuntime

        ray = self._ray(run)
        calls: dict[int, Any] = {}
        codes: dict[int, int | bool | None] = {}
        for proc in run.processes:
            with contextlib.suppress(ValueError):  # no such actor
                calls[proc.rank] = _actor(ray, proc).code.remote()
        for rank, ref in calls.items():
            with contextlib.suppress(ray.exceptions.RayError, TimeoutError):
                codes[rank] = ray.get(ref, timeout=CALL_TIMEOUT_S)
        for proc in run.processes:
            if proc.rank not in codes:
                left = LocalRuntime().exit_code(run, proc.rank)
                codes[proc.rank] = False if left is None else left
        return codes

    def poll(self, run: Run, now: float) -> Outcome | None:
        out = judge(self._codes(run), leader=engines.leader(run.spec))
        if out is not None:
            self.stop(run, grace_s=0)
        return out

    def alive(self, run: Run) -> bool:
        return all(c is None for c in self._codes(run).values())

    def pid(self, process: Process) -> int | None:
        pid = (process.handle.get("local") or {}).get("pid")
        return int(pid) if pid is not None else None

    def address(self, process: Process) -> str | None:
        ip = process.handle.get("ip")
        return str(ip) if ip else None

    def stop(self, run: Run, grace_s: float) -> None:
        """Each actor ends its process (SIGTERM, ``grace_s``, then SIGKILL of its whole
        tree) and is killed; the placement group is removed: Ray's GPUs are free."""
        if not run.processes:
            return
        ray = self._ray(run)
        actors = []
        for proc in run.processes:
            with contextlib.suppress(ValueError):
                actors.append(_actor(ray, proc))
        calls = [a.stop.remote(grace_s) for a in actors]
        with contextlib.suppress(ray.exceptions.RayError, TimeoutError):
            ray.get(calls, timeout=grace_s + CALL_TIMEOUT_S)
        for actor in actors:
            with contextlib.suppress(ray.exceptions.RayError, ValueError):
                ray.kill(actor, no_restart=True)
        names = {p.handle.get("placement_group") for p in run.processes} - {None, False}
        for name in names:
            with contextlib.suppress(ray.exceptions.RayError, ValueError):
                ray.util.remove_placement_group(
                    ray.util.get_placement_group(name))  # type: ignore[arg-type]

    def cache_pool(self, run: Run) -> str | None:
        """The pool named by the ``mlfabric.io/cache-pool`` label of rank 0's node."""
        if not run.placements:
            return None
        node = run.placements[0].node
        found = _node_ids(address(run.job_dir.parents[2]), {node})[node]
        return found.labels.get(CACHE_POOL_LABEL) or None

    def discover(self, home: Path, address_: str | None) -> Cluster:
        addr = address_ or address(home)
        found = ray_nodes(addr)
        path = address_file(home)
        if not path.exists() or path.read_text().strip() != addr:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, addr + "\n")
        return Cluster(addr, tuple(Node(n.name, gpus=n.gpus, pool=n.pool) for n in found),
                       {n.name: n.labels for n in found}, SHARED_PATH_NOTE)

    def read_log(self, run: Run, rank: int, offset: int) -> bytes:
        """What process ``rank`` wrote from ``offset`` on, read on its node by its actor."""
        procs = [p for p in run.processes if p.rank == rank]
        if not procs:
            return super().read_log(run, rank, offset)
        ray = self._ray(run)
        try:
            return bytes(ray.get(_actor(ray, procs[0]).read_log.remote(offset),
                                 timeout=CALL_TIMEOUT_S))
        except (ray.exceptions.RayError, TimeoutError, ValueError):
            return super().read_log(run, rank, offset)  # its node is gone: the shared path

    def exec_command(self, run: Run, command: list[str]) -> tuple[list[str], dict[str, str],
                                                                   Path | None]:
        if not run.processes:
            return super().exec_command(run, command)
        handle = run.processes[0].handle
        return [sys.executable, "-m", __name__, handle["address"], handle["actor"], "--",
                *command], dict(os.environ), None


def main(argv: list[str]) -> int:
    """``python -m mlfabric.scheduler.runtimes.ray ADDRESS ACTOR -- CMD``: run ``CMD``
    next to the job's process on its node, print its output, exit with its code."""
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: ray ADDRESS ACTOR -- COMMAND [ARGS...]\n")
        return 2
    ray = connect(argv[0])
    try:
        code, output = ray.get(ray.get_actor(argv[1], namespace=NAMESPACE)
                               .exec.remote(argv[3:]), timeout=600)
    except (ray.exceptions.RayError, ValueError) as exc:
        sys.stderr.write(f"error: the job's process on Ray is gone: {exc}\n")
        return 1
    sys.stdout.buffer.write(output)
    sys.stdout.flush()
    return int(code)


__all__ = ["ADDRESS_ENV", "CACHE_POOL_LABEL", "NAMESPACE", "NODE_LABEL", "POOL_LABEL",
           "SHARED_PATH_NOTE", "RayNode", "RayRuntime", "address", "address_file", "connect",
           "ray_nodes"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
