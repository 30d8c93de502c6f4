"""Victim choice: which running jobs to preempt so that one pending job fits.

Victim sets are compared by (penalty, GPUs evicted, jobs evicted, newest jobs first); the
caller's ``judge`` rules a set out or gives its penalty (e.g. 1 if it pushes a project
below its quota). Sets are searched node by node (GPU by GPU for shared requests) with
branch and bound, so the common single-victim case stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from mlfabric.scheduler.model import MILLI, GpuRequest, JobKey
from mlfabric.scheduler.placement import NodeLoad, Pool

_MAX_ITEMS = 14  # per node or GPU; beyond this the largest items are enough in practice


@dataclass(frozen=True)
class Candidate:
    """A running job that may be preempted."""

    key: JobKey
    milli: int  # all it holds, on every node: what evicting it frees and costs
    age: tuple[float, int]  # (-submit_time, -submit sequence): smaller is newer


Judge = Callable[[Sequence[Candidate]], int | None]
VictimKey = tuple[int, int, int, tuple[tuple[float, int], ...]]


class _Item(NamedTuple):
    """Jobs that must go together to free ``frees`` units (GPUs, or milli-GPUs of one GPU)."""

    frees: int
    cost: int
    jobs: tuple[Candidate, ...]


class _Search:
    """Best victim set found so far across nodes."""

    def __init__(self, judge: Judge) -> None:
        self.judge = judge
        self.key: VictimKey | None = None
        self.victims: list[Candidate] | None = None

    def hopeless(self, lower_bound_cost: int) -> bool:
        """Whether no set costing at least ``lower_bound_cost`` can beat the best."""
        return self.key is not None and self.key[0] == 0 and lower_bound_cost > self.key[1]

    def cover(self, items: list[_Item], need: int, base: list[Candidate]) -> bool:
        """Try every minimal subset of ``items`` freeing ``need``; True if the best improved."""
        items = sorted(items, key=lambda it: (-it.frees, it.cost, [c.key for c in it.jobs]))
        items = items[:_MAX_ITEMS]
        suffix = [0] * (len(items) + 1)
        for i in range(len(items) - 1, -1, -1):
            suffix[i] = suffix[i + 1] + items[i].frees
        improved = False
        picked: list[_Item] = []

        def visit(i: int, freed: int, cost: int) -> None:
            nonlocal improved
            if freed >= need:
                victims = base + [c for it in picked for c in it.jobs]
                penalty = self.judge(victims)
                if penalty is None:
                    return
                key = (penalty, cost, len(victims), tuple(sorted(c.age for c in victims)))
                if self.key is None or key < self.key:
                    self.key, self.victims, improved = key, victims, True
                return
            if freed + suffix[i] < need:
                return
            # Any completion adds a positive cost, so an equal cost already loses.
            if self.key is not None and self.key[0] == 0 and cost >= self.key[1]:
                return
            picked.append(items[i])
            visit(i + 1, freed + items[i].frees, cost + items[i].cost)
            picked.pop()
            visit(i + 1, freed, cost)

        visit(0, 0, sum(c.milli for c in base))
        return improved


def choose_victims(pool: Pool, req: GpuRequest, candidates: Mapping[JobKey, Candidate],
                   judge: Judge) -> list[Candidate] | None:
    """The best set of ``candidates`` whose preemption lets ``req`` fit, or None."""
    if not candidates:
        return None
    if req.shared:
        if req.processes > 1:
            return None  # a gang of fractions waits for room; it does not preempt
        return _for_shared(pool, req, candidates, judge)
    return _for_whole(pool, req, candidates, judge)


def choose_to_free(candidates: Sequence[Candidate], amount: int) -> list[Candidate] | None:
    """The best set of ``candidates`` holding ``amount`` milli-GPUs in all, wherever they
    run (fewest GPUs, then jobs, newest first), or None: what a project must give up to
    stay within its limit."""
    search = _Search(lambda _victims: 0)
    search.cover([_Item(c.milli, c.milli, (c,)) for c in candidates], amount, [])
    return search.victims


def _holders(load: NodeLoad) -> dict[int, list[tuple[JobKey, int]]]:
    """Each GPU's jobs with what they hold of it (a gang of fractions may hold several
    shares of one GPU: counted once, with their sum)."""
    by_gpu: dict[int, dict[JobKey, int]] = {}
    for key, allocs in load.jobs.items():
        for gpu, milli in allocs:
            held = by_gpu.setdefault(gpu, {})
            held[key] = held.get(key, 0) + milli
    return {gpu: list(held.items()) for gpu, held in by_gpu.items()}


def _whole_view(load: NodeLoad, candidates: Mapping[JobKey, Candidate],
                gone: set[JobKey]) -> tuple[int, list[_Item]]:
    """Free whole GPUs on ``load`` once ``gone`` are evicted, and what else could be."""
    free = load.free_whole
    items: list[_Item] = []
    sharing: dict[int, list[JobKey]] = {}  # shared GPU -> the jobs on it
    spread: set[JobKey] = set()  # gangs of fractions over several GPUs of this node
    for key, allocs in load.jobs.items():
        if allocs[0][1] < MILLI:  # shares of GPUs: one comes free with the others on it
            for gpu in {g for g, _ in allocs}:
                sharing.setdefault(gpu, []).append(key)
            if len({g for g, _ in allocs}) > 1:
                spread.add(key)
        elif key in gone:
            free += len(allocs)
        else:
            cand = candidates.get(key)
            if cand is not None:
                items.append(_Item(len(allocs), cand.milli, (cand,)))
    for keys in sharing.values():
        left = sorted(k for k in keys if k not in gone)
        if not left:
            free += 1
        elif all(k in candidates and k not in spread for k in left):
            jobs = tuple(candidates[k] for k in left)
            items.append(_Item(1, sum(c.milli for c in jobs), jobs))
    return free, items


def _for_whole(pool: Pool, req: GpuRequest, candidates: Mapping[JobKey, Candidate],
               judge: Judge) -> list[Candidate] | None:
    # A gang is placed process by process; each step evicts only if no node has room.
    g = req.whole
    chosen: list[Candidate] = []
    gone: set[JobKey] = set()
    placed: dict[str, int] = {}
    for _ in range(req.processes):
        views: list[tuple[float, str, int, list[_Item]]] = []
        roomy: tuple[int, str] | None = None
        for ld in pool.order:
            if ld.node.gpus < g:
                continue
            free, items = _whole_view(ld, candidates, gone)
            free -= g * placed.get(ld.node.name, 0)
            if free >= g:
                if roomy is None or free < roomy[0]:
                    roomy = (free, ld.node.name)
            elif items:
                # Shared GPUs may come free for less than a GPU's worth of fractions.
                per_gpu = min(it.cost / it.frees for it in items)
                views.append(((g - free) * per_gpu, ld.node.name, g - free, items))
        if roomy is not None:
            placed[roomy[1]] = placed.get(roomy[1], 0) + 1
            continue
        search = _Search(judge)
        base_cost = sum(c.milli for c in chosen)
        best_node = None
        for least, name, deficit, items in sorted(views, key=lambda v: (v[0], v[1])):
            if search.hopeless(base_cost + least):
                break
            if search.cover(items, deficit, chosen):
                best_node = name
        if best_node is None or search.victims is None:
            return None
        chosen = search.victims
        gone = {c.key for c in chosen}
        placed[best_node] = placed.get(best_node, 0) + 1
    return chosen or None


def _for_shared(pool: Pool, req: GpuRequest, candidates: Mapping[JobKey, Candidate],
                judge: Judge) -> list[Candidate] | None:
    gpus: list[tuple[int, str, int, list[_Item]]] = []
    for ld in pool.order:
        milli = req.milli_on(ld.node.gpu_memory)
        if milli is None:
            continue
        for gpu, holders in _holders(ld).items():
            items = [_Item(frees=m, cost=candidates[k].milli, jobs=(candidates[k],))
                     for k, m in holders if k in candidates]
            if items:
                gpus.append((milli - (MILLI - ld.used[gpu]), ld.node.name, gpu, items))
    search = _Search(judge)
    for deficit, _name, _gpu, items in sorted(gpus, key=lambda v: v[:3]):
        if search.hopeless(deficit):
            break
        search.cover(items, deficit, [])
    return search.victims
