"""Where jobs fit: per-GPU bookkeeping of a node pool and the bin-packing rules.

Whole-GPU processes go to the fullest node that has room (keeping large blocks free
elsewhere); fractions go to the fullest shared GPU they fit on, else open a free GPU on
the fullest node. A gang's processes are all placed or none are.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlfabric.scheduler.model import MILLI, GpuRequest, JobKey, Node

# One process's share of the pool: node name, GPU indices, milli-GPUs taken on each GPU.
Slot = tuple[str, tuple[int, ...], int]


class NodeLoad:
    """One node's GPUs: milli-GPUs allocated on each, and which jobs hold them."""

    __slots__ = ("free_whole", "jobs", "node", "shared", "used")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.used = [0] * node.gpus
        self.free_whole = node.gpus  # GPUs with nothing allocated
        self.shared: dict[int, int] = {}  # partly used GPU index -> milli-GPUs used
        self.jobs: dict[JobKey, list[tuple[int, int]]] = {}  # job -> [(GPU index, milli)]

    def take(self, key: JobKey, gpu: int, milli: int) -> None:
        """Allocate ``milli`` of GPU ``gpu`` to job ``key``."""
        before = self.used[gpu]
        after = before + milli
        if after > MILLI:
            raise AssertionError(f"GPU {self.node.name}/{gpu} over-allocated: {after}/{MILLI}")
        self.used[gpu] = after
        if before == 0:
            self.free_whole -= 1
        if after < MILLI:
            self.shared[gpu] = after
        else:
            self.shared.pop(gpu, None)
        self.jobs.setdefault(key, []).append((gpu, milli))

    def release(self, key: JobKey) -> None:
        """Free everything job ``key`` holds on this node."""
        for gpu, milli in self.jobs.pop(key, ()):
            after = self.used[gpu] - milli
            self.used[gpu] = after
            if after == 0:
                self.free_whole += 1
                self.shared.pop(gpu, None)
            else:
                self.shared[gpu] = after

    def free_gpus(self, count: int, skip: frozenset[int] = frozenset()) -> tuple[int, ...]:
        """The lowest ``count`` GPU indices with nothing allocated (and not in ``skip``)."""
        picked = [i for i, u in enumerate(self.used) if u == 0 and i not in skip]
        return tuple(picked[:count])


@dataclass
class _Aggregates:
    max_free_whole: int = 0  # most free whole GPUs on one node
    total_free_whole: int = 0
    max_shared_room: int = 0  # most milli-GPUs left on one partly used GPU
    total_shared_room: int = 0  # milli-GPUs left on all partly used GPUs


class Pool:
    """The nodes of one node pool and their allocations; answers "where does this fit?"."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loads: dict[str, NodeLoad] = {}
        self.order: list[NodeLoad] = []  # by node name, for deterministic tie-breaks
        self.generation = 0  # bumped on every change, so callers can memoise refusals
        self.node_generation = 0  # bumped when nodes come, go or change
        self._agg: _Aggregates | None = None
        self._fit_memo: dict[tuple[int, int], bool] = {}

    # -- nodes ---------------------------------------------------------------------------
    def add_node(self, node: Node) -> NodeLoad:
        """Add an empty node."""
        load = NodeLoad(node)
        self.loads[node.name] = load
        self.order = sorted(self.loads.values(), key=lambda ld: ld.node.name)
        self._changed(nodes=True)
        return load

    def remove_node(self, name: str) -> NodeLoad:
        """Remove a node (its jobs must be released by the caller first)."""
        load = self.loads.pop(name)
        self.order = [ld for ld in self.order if ld.node.name != name]
        self._changed(nodes=True)
        return load

    @property
    def capacity(self) -> int:
        """GPUs in the pool."""
        return sum(ld.node.gpus for ld in self.order)

    @property
    def max_gpu_memory(self) -> int:
        """The largest GPU memory of any node (bytes)."""
        return max((ld.node.gpu_memory for ld in self.order), default=0)

    @property
    def max_node_gpus(self) -> int:
        """The most GPUs on one node."""
        return max((ld.node.gpus for ld in self.order), default=0)

    def could_ever_fit(self, req: GpuRequest) -> bool:
        """Whether ``req`` fits the empty pool (else no amount of waiting helps)."""
        if req.shared:
            if req.memory:
                return self.max_gpu_memory >= req.memory
            return sum(ld.node.gpus for ld in self.order) * (MILLI // req.milli) \
                >= req.processes
        memo_key = (req.whole, req.processes)
        fit = self._fit_memo.get(memo_key)
        if fit is None:
            slots = sum(ld.node.gpus // req.whole for ld in self.order)
            fit = self._fit_memo[memo_key] = slots >= req.processes
        return fit

    def demand_milli(self, req: GpuRequest) -> int:
        """What ``req`` counts for in fair share: memory-sized jobs at their smallest share."""
        if not req.shared:
            return req.whole * req.processes * MILLI
        if req.memory:
            return req.milli_on(self.max_gpu_memory) or MILLI
        return req.milli * req.processes

    # -- allocation ----------------------------------------------------------------------
    def allocate(self, key: JobKey, slots: list[Slot]) -> None:
        """Give job ``key`` the GPUs in ``slots``."""
        for node, gpus, milli in slots:
            load = self.loads[node]
            for gpu in gpus:
                load.take(key, gpu, milli)
        self._changed()

    def release(self, key: JobKey, nodes: set[str] | list[str]) -> None:
        """Free what job ``key`` holds on ``nodes``."""
        for node in nodes:
            load = self.loads.get(node)
            if load is not None:
                load.release(key)
        self._changed()

    def _changed(self, nodes: bool = False) -> None:
        self.generation += 1
        self._agg = None
        if nodes:
            self.node_generation += 1
            self._fit_memo.clear()

    def aggregates(self) -> _Aggregates:
        """Quick upper bounds on free room, so most hopeless requests fail in O(1)."""
        if self._agg is None:
            agg = _Aggregates()
            for ld in self.order:
                agg.total_free_whole += ld.free_whole
                agg.max_free_whole = max(agg.max_free_whole, ld.free_whole)
                for used in ld.shared.values():
                    agg.max_shared_room = max(agg.max_shared_room, MILLI - used)
                    agg.total_shared_room += MILLI - used
            self._agg = agg
        return self._agg

    def room_for(self, gpus: int) -> int:
        """How many processes of ``gpus`` whole GPUs each fit on free GPUs now."""
        return sum(ld.free_whole // gpus for ld in self.order)

    # -- finding room --------------------------------------------------------------------
    def find(self, req: GpuRequest) -> list[Slot] | None:
        """Where ``req`` fits on free GPUs now, one slot per process; None if it does not."""
        agg = self.aggregates()
        if req.shared:
            least = 1 if req.memory else req.milli  # a memory-sized share varies by node
            if agg.max_free_whole == 0 and agg.max_shared_room < least:
                return None
            if req.processes > 1:
                if agg.total_free_whole * MILLI + agg.total_shared_room < req.milli * req.processes:
                    return None
                return self._find_shared_gang(req.milli, req.processes)
            return self._find_shared(req)
        if agg.max_free_whole < req.whole or agg.total_free_whole < req.whole * req.processes:
            return None
        return self._find_whole(req.whole, req.processes)

    def _find_whole(self, g: int, n: int) -> list[Slot] | None:
        free = {ld.node.name: ld.free_whole for ld in self.order}
        taken: dict[str, frozenset[int]] = {}
        slots: list[Slot] = []
        for _ in range(n):
            best: NodeLoad | None = None
            for ld in self.order:
                f = free[ld.node.name]
                if f >= g and (best is None or f < free[best.node.name]):
                    best = ld
                    if f == g:  # nothing can be fuller
                        break
            if best is None:
                return None
            name = best.node.name
            skip = taken.get(name, frozenset())
            gpus = best.free_gpus(g, skip)
            taken[name] = skip | frozenset(gpus)
            free[name] -= g
            slots.append((name, gpus, MILLI))
        return slots

    def _find_shared_gang(self, milli: int, n: int) -> list[Slot] | None:
        """``n`` shares of ``milli`` each, placed one by one by the rule for one share
        (fullest shared GPU they fit on, else a free GPU on the fullest node), all or none."""
        used = {(ld.node.name, g): u for ld in self.order for g, u in ld.shared.items()}
        free = {ld.node.name: ld.free_gpus(ld.free_whole) for ld in self.order}
        slots: list[Slot] = []
        for _ in range(n):
            fits = [(-u, node, gpu) for (node, gpu), u in used.items() if u + milli <= MILLI]
            if fits:
                _, node, gpu = min(fits)
            else:
                roomy = [(len(gs), node) for node, gs in free.items() if gs]
                if not roomy:
                    return None
                node = min(roomy)[1]
                gpu, free[node] = free[node][0], free[node][1:]
            used[(node, gpu)] = used.get((node, gpu), 0) + milli
            slots.append((node, (gpu,), milli))
        return slots

    def _find_shared(self, req: GpuRequest) -> list[Slot] | None:
        best: tuple[int, str, int, int] | None = None  # (-used, node, gpu, milli)
        for ld in self.order:
            if not ld.shared:
                continue
            milli = req.milli_on(ld.node.gpu_memory)
            if milli is None:
                continue
            for gpu, used in ld.shared.items():
                if used + milli <= MILLI:
                    cand = (-used, ld.node.name, gpu, milli)
                    if best is None or cand < best:
                        best = cand
        if best is not None:
            return [(best[1], (best[2],), best[3])]
        fullest: NodeLoad | None = None
        for ld in self.order:
            if ld.free_whole >= 1 and req.milli_on(ld.node.gpu_memory) is not None and (
                    fullest is None or ld.free_whole < fullest.free_whole):
                fullest = ld
        if fullest is None:
            return None
        milli = req.milli_on(fullest.node.gpu_memory)
        assert milli is not None
        return [(fullest.node.name, fullest.free_gpus(1), milli)]
