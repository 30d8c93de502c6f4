"""The scheduler's invariants, checked by ``Scheduler.validate`` (tests switch it on).

Per GPU allocated + free == total and no sum of fractions above one GPU; every running
job placed whole (all processes of a gang) on nodes of its project's pool; per-project
totals equal to the sum of their jobs; queues ordered; every pending job with a reason.
"""

from __future__ import annotations

from mlfabric.scheduler.model import MILLI, Node
from mlfabric.scheduler.placement import NodeLoad
from mlfabric.scheduler.reasons import job_ref
from mlfabric.scheduler.state import JobRecord, Ledger, ProjectRecord
from mlfabric.scheduler.states import PENDING


def problems(ledger: Ledger) -> list[str]:
    """Every broken invariant, in words (empty when all hold)."""
    found: list[str] = []
    expected: dict[tuple[str, int], int] = {}
    for pr in ledger.projects.values():
        alloc = np_alloc = 0
        for key, rec in pr.running.items():
            if rec.key != key or not rec.running:
                found.append(f"job {job_ref(key)} is listed as running but is not")
            found += _running_job(rec, pr, ledger.nodes)
            for node, gpus, milli in rec.slots:
                for gpu in gpus:
                    expected[(node, gpu)] = expected.get((node, gpu), 0) + milli
            alloc += rec.milli
            np_alloc += 0 if rec.preemptible else rec.milli
        if (alloc, np_alloc) != (pr.alloc, pr.np_alloc):
            found.append(f"project {pr.name}: allocation {pr.alloc}/{pr.np_alloc} != sum of "
                         f"its jobs {alloc}/{np_alloc}")
        for rec in pr.pending:
            if rec.state != PENDING or rec.slots or rec.reason is None:
                found.append(f"pending job {job_ref(rec.key)} is placed or has no reason")
        orders = [r.order for r in pr.pending]
        if orders != sorted(orders):
            found.append(f"project {pr.name}: queue out of order")
    count = sum(len(pr.running) + len(pr.pending) for pr in ledger.projects.values())
    if count != len(ledger.jobs):
        found.append(f"{len(ledger.jobs)} jobs known but {count} queued or running")
    for name, node in ledger.nodes.items():
        load = ledger.pools[node.pool].loads.get(name) if node.pool in ledger.pools else None
        if load is None:
            found.append(f"node {name} is missing from pool {node.pool}")
        else:
            found += _node(load, expected)
    return found


def _running_job(rec: JobRecord, pr: ProjectRecord, nodes: dict[str, Node]) -> list[str]:
    ref = job_ref(rec.key)
    found = []
    if len(rec.slots) != rec.req.processes:
        found.append(f"gang job {ref} has {len(rec.slots)} of {rec.req.processes} processes "
                     "placed")
    for node, gpus, milli in rec.slots:
        if node not in nodes or nodes[node].pool != pr.project.pool:
            found.append(f"job {ref} is placed on {node}, not a node of pool "
                         f"{pr.project.pool}")
        want = rec.req.whole or 1
        if len(gpus) != want or len(set(gpus)) != want:
            found.append(f"job {ref} holds GPUs {gpus} on {node}, expected {want}")
        if not rec.req.shared and milli != MILLI:
            found.append(f"whole-GPU job {ref} holds a fraction ({milli} milli-GPUs)")
    if rec.milli != sum(len(g) * m for _, g, m in rec.slots):
        found.append(f"job {ref}: allocation {rec.milli} != its placements")
    return found


def _node(load: NodeLoad, expected: dict[tuple[str, int], int]) -> list[str]:
    name = load.node.name
    found = []
    holders: dict[int, list[int]] = {}
    for allocs in load.jobs.values():
        for gpu, milli in allocs:
            holders.setdefault(gpu, []).append(milli)
    for gpu, used in enumerate(load.used):
        want = expected.get((name, gpu), 0)
        free = MILLI - used
        if used != want or used + free != MILLI or not 0 <= used <= MILLI:
            found.append(f"GPU {name}/{gpu}: allocated {used} + free {free} of {MILLI}, but "
                         f"jobs hold {want}")
        if MILLI in holders.get(gpu, []) and len(holders[gpu]) > 1:
            found.append(f"GPU {name}/{gpu} is held whole and shared at once")
    if load.free_whole != sum(1 for u in load.used if u == 0):
        found.append(f"node {name}: free GPU count {load.free_whole} is stale")
    if load.shared != {g: u for g, u in enumerate(load.used) if 0 < u < MILLI}:
        found.append(f"node {name}: shared-GPU index is stale")
    return found
