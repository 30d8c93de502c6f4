"""One scheduling cycle of one node pool.

1. Fair shares from demand (running jobs plus pending jobs that could ever run).
2. Offer pending jobs in fairness order: jobs of projects below their fair share first,
   in submit order (each such project is owed GPUs, none more than another); then the
   others, least-served project (allocation / fair share) first. Order only matters
   when a job starts, so a project's allocation is re-read whenever its turn comes.
3. An offered job starts on free GPUs if the rules allow; else, within its fair share, it
   may reclaim GPUs from projects above max(quota, fair share), and a non-preemptible job
   within quota may preempt its own project's training jobs (also to stay within the
   project's limit). Otherwise it gets a reason naming what stops it: its fair share only
   where a larger share would let it reclaim enough, else the room it waits for.

No preemption ping-pong: a reclaimer must stay within its fair share; a victim project
must be above max(quota, fair share) and must not drop so low that an evicted job would be
within its fair share again; and a project that lost jobs to P in one cycle may not
reclaim from P in the next.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
from collections.abc import Iterator, Sequence

from mlfabric.scheduler import reasons
from mlfabric.scheduler.fairshare import ShareRequest, fair_shares
from mlfabric.scheduler.instructions import Instruction, Start
from mlfabric.scheduler.model import MILLI, JobKey, Reason
from mlfabric.scheduler.placement import Pool, Slot
from mlfabric.scheduler.preemption import Candidate, Judge, choose_to_free, choose_victims
from mlfabric.scheduler.state import EPS, JobRecord, Ledger, ProjectRecord, queue_order

# (0, submit time, sequence, project, version) for a project below its fair share,
# (1, allocation / fair share, allocation, project, version) for any other.
_Turn = tuple[int, float, float, str, int]


def run_cycle(ledger: Ledger, pool_name: str, projects: list[ProjectRecord], now: float,
              out: list[Instruction], reclaims: set[tuple[str, str]],
              last_reclaims: set[tuple[str, str]]) -> None:
    """Schedule one pool; ``reclaims`` collects (reclaimer, victim) project pairs."""
    pool = ledger.pools.get(pool_name)
    if pool is None or not pool.order:
        reason = reasons.no_nodes(pool_name)
        for pr in projects:
            pr.fair_share = 0.0
            for rec in pr.pending:
                rec.reason = reason
        return
    _PoolCycle(ledger, pool, projects, now, out, reclaims, last_reclaims).run()


class _PoolCycle:
    def __init__(self, ledger: Ledger, pool: Pool, projects: list[ProjectRecord], now: float,
                 out: list[Instruction], reclaims: set[tuple[str, str]],
                 last_reclaims: set[tuple[str, str]]) -> None:
        self.ledger = ledger
        self.pool = pool
        self.projects = projects
        self.now = now
        self.out = out
        self.reclaims = reclaims
        self.last_reclaims = last_reclaims
        self.requeue: list[JobRecord] = []
        self.touched: set[str] = set()  # projects whose queue changed
        self.heap: list[_Turn] = []  # whose turn it is: one live entry per waiting project
        self.queues: dict[str, list[JobRecord]] = {}  # pending jobs at the cycle's start
        self.position: dict[str, int] = {}  # next job to offer in each queue
        self.version: dict[str, int] = {}  # turns of older versions are stale
        # (project, job shape) -> (pool generation, reason): same state, same refusal.
        self.refused: dict[tuple[str, tuple[int, int, int, int, bool]],
                           tuple[int, Reason]] = {}
        self.borrowed = (-1, 0)  # (pool generation, GPUs lent beyond quotas in all)

    def run(self) -> None:
        """Fair shares, then offer every pending job once, in fairness order."""
        self._fair_shares()
        by_name = {pr.name: pr for pr in self.projects}
        heap = self.heap
        for pr in self.projects:
            if pr.pending:
                self.queues[pr.name] = list(pr.pending)
                self.position[pr.name] = 0
                self.version[pr.name] = 0
                heap.append(self._turn(pr))
        heapq.heapify(heap)
        while heap:
            turn = heapq.heappop(heap)
            pr = by_name[turn[3]]
            if turn[4] != self.version[pr.name]:  # stale: a fresh turn was queued since
                continue
            queue = self.queues[pr.name]
            while True:
                self._offer(pr, queue[self.position[pr.name]])
                self.position[pr.name] += 1
                if self.position[pr.name] == len(queue):
                    break
                # Go on with this project while it stays first: saves heap traffic.
                nxt = self._turn(pr)
                if heap and heap[0] < nxt:
                    heapq.heappush(heap, nxt)
                    break
        for name in self.touched:
            pr = by_name[name]
            pr.pending = [r for r in pr.pending if not r.running]
        for rec in self.requeue:
            bisect.insort(by_name[rec.key[0]].pending, rec, key=queue_order)

    def _queue_turn(self, pr: ProjectRecord) -> None:
        """Queue a fresh turn for a project whose allocation changed while it waited."""
        queue = self.queues.get(pr.name)
        if queue is not None and self.position[pr.name] < len(queue):
            self.version[pr.name] += 1
            heapq.heappush(self.heap, self._turn(pr))

    def _fair_shares(self) -> None:
        pool = self.pool
        generation = (pool.name, pool.node_generation)
        requests = {}
        for pr in self.projects:
            demand = pr.alloc
            np_pending = 0
            for rec in pr.pending:
                if rec.fit_generation != generation:
                    rec.fit_generation = generation
                    rec.fits = pool.could_ever_fit(rec.req)
                    rec.need = rec.size or pool.demand_milli(rec.req)
                if not rec.fits:
                    continue
                if rec.preemptible:
                    demand += rec.need
                else:
                    np_pending += rec.need
            # Non-preemptible jobs beyond quota can never run, so they claim no share.
            demand += min(np_pending, max(0, pr.quota - pr.np_alloc))
            requests[pr.name] = ShareRequest(pr.quota, pr.weight, demand, pr.limit)
        shares = fair_shares(pool.capacity * MILLI, requests)
        for pr in self.projects:
            pr.fair_share = shares[pr.name]

    def _turn(self, pr: ProjectRecord) -> _Turn:
        """The heap entry for the next job of ``pr``'s queue."""
        alloc = pr.alloc
        version = self.version[pr.name]
        if alloc + EPS < pr.fair_share:
            rec = self.queues[pr.name][self.position[pr.name]]
            return (0, rec.job.submit_time, rec.order[2], pr.name, version)
        ratio = alloc / pr.fair_share if pr.fair_share > EPS else float("inf")
        return (1, ratio, alloc, pr.name, version)

    def _offer(self, pr: ProjectRecord, rec: JobRecord) -> None:
        """Start ``rec`` if the rules allow it now, else record why it waits."""
        pool = self.pool
        memo_key = (pr.name, rec.shape)
        refused = self.refused.get(memo_key)
        if refused is not None and refused[0] == pool.generation:
            rec.reason = refused[1]
            return
        reason = self._try(pr, rec)
        if reason is not None:
            rec.reason = reason
            self.refused[memo_key] = (pool.generation, reason)

    def _try(self, pr: ProjectRecord, rec: JobRecord) -> Reason | None:
        """Start ``rec`` (None) or say why not, naming the constraint that stops it."""
        pool = self.pool
        req = rec.req
        if not rec.fits:
            return reasons.too_big(req, pool.name, pool.max_node_gpus, pool.max_gpu_memory)
        need = rec.need
        in_quota = not rec.preemptible and pr.np_alloc + need <= pr.quota
        if not rec.preemptible and not in_quota:
            return reasons.over_quota(pr.name, pr.np_alloc, pr.quota, need)
        within = pr.alloc + need <= pr.fair_share + EPS
        if pr.limit is not None and pr.alloc + need > pr.limit:
            # Quota <= limit, so a job within quota gets under the limit by preempting
            # its own project's training jobs (never within its fair share here).
            excess = pr.alloc + need - pr.limit
            if in_quota and self._reclaim(rec, pr, False, True, excess):
                return None
            return reasons.over_limit(pr.name, pr.alloc, pr.limit, need)
        slots = pool.find(req)
        if slots is not None:
            self._start(rec, pr, slots)
            return None
        if (within or in_quota) and self._reclaim(rec, pr, within, in_quota):
            return None
        return self._why_no_room(pr, rec, within)

    def _why_no_room(self, pr: ProjectRecord, rec: JobRecord, within: bool) -> Reason:
        """Fair share stops a job only if, were it within its share, it could reclaim
        enough; otherwise room does (GPUs held within quotas, or free ones scattered)."""
        pool = self.pool
        need = rec.need
        agg = pool.aggregates()
        free = agg.total_free_whole * MILLI + (agg.total_shared_room if rec.req.shared else 0)
        if not within and free < need <= free + self._borrowed(pr):
            return reasons.at_fair_share(pr.name, pr.alloc, pr.fair_share, need, pool.name)
        share = (reasons.share_state(pr.name, pr.alloc, pr.fair_share)
                 if pr.alloc + 0.5 >= pr.fair_share else None)
        room = pool.room_for(rec.req.whole) if rec.req.processes > 1 and rec.req.whole else 0
        return reasons.no_room(rec.req, pool.name, room, share)

    def _borrowed(self, pr: ProjectRecord) -> int:
        """Milli-GPUs other projects hold beyond their quota in preemptible jobs: the most
        ``pr`` could ever reclaim."""
        def lent(q: ProjectRecord) -> int:
            return min(q.alloc - q.quota, q.alloc - q.np_alloc) if q.alloc > q.quota else 0

        generation = self.pool.generation
        if self.borrowed[0] != generation:  # allocations changed since it was summed
            self.borrowed = (generation, sum(lent(q) for q in self.projects))
        return self.borrowed[1] - lent(pr)

    def _start(self, rec: JobRecord, pr: ProjectRecord, slots: list[Slot]) -> None:
        self.ledger.start(rec, slots, self.now)
        self.touched.add(pr.name)
        self.out.append(Start(pr.name, rec.key[1], rec.placements()))

    def _reclaim(self, rec: JobRecord, pr: ProjectRecord, within: bool, in_quota: bool,
                 excess: int = 0) -> bool:
        """Preempt the best victim set for ``rec`` and start it; False if there is none.

        ``excess``: what ``pr`` must give up of its own to stay within its limit; those
        jobs go first, then whatever else the job needs to fit."""
        pool = self.pool
        cycle = self.ledger.cycle
        sources = []
        if within:
            sources = [q for q in self.projects if q is not pr
                       and q.alloc > max(q.quota, q.fair_share) + EPS
                       and (q.name, pr.name) not in self.last_reclaims]
        if in_quota:
            sources.append(pr)
        candidates: dict[JobKey, Candidate] = {}
        for q in sources:
            for r in q.running.values():
                # Jobs started this cycle stay: no start and preempt of one job in one batch.
                if r.preemptible and r.started_cycle != cycle and r.candidate is not None:
                    candidates[r.key] = r.candidate
        if not candidates:
            return False
        free = pool.aggregates().total_free_whole * MILLI
        if sum(c.milli for c in candidates.values()) + free < rec.size:
            return False
        victims: list[Candidate] = []
        if excess > 0:
            victims = choose_to_free([c for c in candidates.values() if c.key[0] == pr.name],
                                     excess) or []
            if not victims:
                return False
            for c in victims:
                del candidates[c.key]
        with self._without(victims):
            if pool.find(rec.req) is None:
                more = choose_victims(pool, rec.req, candidates, self._judge(pr))
                if not more:
                    return False
                victims += more
        ref = reasons.job_ref(rec.key)
        for victim in victims:
            if victim.key[0] == pr.name:
                message = (f"preempted for {ref}, a non-preemptible job within project "
                           f"{pr.name}'s quota")
            else:
                message = f"reclaimed by {ref}: project {pr.name} is below its fair share"
                self.reclaims.add((pr.name, victim.key[0]))
            self.touched.add(victim.key[0])
            self.ledger.preempt(self.ledger.jobs[victim.key], message, self.out, by=rec.key,
                                requeue=self.requeue)
        for name in {v.key[0] for v in victims} - {pr.name}:
            self._queue_turn(self.ledger.projects[name])
        slots = pool.find(rec.req)
        if slots is None:
            raise AssertionError(f"no room for {ref} after preempting "
                                 f"{[reasons.job_ref(v.key) for v in victims]}")
        self._start(rec, pr, slots)
        return True

    @contextlib.contextmanager
    def _without(self, victims: list[Candidate]) -> Iterator[None]:
        """The pool as if ``victims`` were gone (put back on leaving)."""
        held = [(v.key, self.ledger.jobs[v.key].slots) for v in victims]
        for key, slots in held:
            self.pool.release(key, {node for node, _, _ in slots})
        try:
            yield
        finally:
            for key, slots in held:
                self.pool.allocate(key, slots)

    def _judge(self, pr: ProjectRecord) -> Judge:
        projects = self.ledger.projects

        def judge(victims: Sequence[Candidate]) -> int | None:
            """None if the set is not allowed; 1 if it pushes a project below its quota."""
            evicted: dict[str, list[int]] = {}
            for c in victims:
                e = evicted.get(c.key[0])
                if e is None:
                    evicted[c.key[0]] = [c.milli, c.milli]
                else:
                    e[0] += c.milli
                    e[1] = min(e[1], c.milli)
            penalty = 0
            for name, (gone, smallest) in evicted.items():
                if name == pr.name:
                    continue
                q = projects[name]
                after = q.alloc - gone
                # An evicted job must not be within its fair share again at once.
                if after + smallest <= q.fair_share + EPS:
                    return None
                if after < q.quota:
                    penalty = 1
            return penalty

        return judge
