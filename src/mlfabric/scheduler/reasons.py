"""Why a job is pending or was stopped, in sentences a user can act on."""

from __future__ import annotations

from mlfabric.scheduler.model import MILLI, GpuRequest, JobKey, Reason
from mlfabric.units import format_size


def amount(milli: float) -> str:
    """Milli-GPUs as a short GPU count: ``4``, ``4.5``, ``0.333``."""
    return f"{milli / MILLI:.3f}".rstrip("0").rstrip(".")


def gpus(milli: float) -> str:
    """``1 GPU``, ``8 GPUs``, ``0.5 GPU``."""
    text = amount(milli)
    return f"{text} GPU" if milli <= MILLI else f"{text} GPUs"


def job_ref(key: JobKey) -> str:
    """``project/job``."""
    return f"{key[0]}/{key[1]}"


def _shape(req: GpuRequest) -> str:
    if req.memory:
        return f"{format_size(req.memory)} of one GPU"
    if req.shared and req.processes > 1:
        return f"{req.processes} processes x {amount(req.milli)} of a GPU"
    if req.shared:
        return f"{amount(req.milli)} of a GPU"
    if req.processes > 1:
        return f"{req.processes} processes x {gpus(req.whole * MILLI)}"
    return gpus(req.whole * MILLI)


NEW = Reason("new", "waiting for the next scheduling cycle")


def no_nodes(pool: str) -> Reason:
    """The project's pool has no nodes at all."""
    return Reason("no-nodes", f"node pool {pool} has no nodes")


def too_big(req: GpuRequest, pool: str, max_gpus: int, max_memory: int) -> Reason:
    """The job does not fit the pool even when it is empty."""
    if req.memory:
        msg = (f"no GPU in pool {pool} has {format_size(req.memory)} of memory "
               f"(the largest has {format_size(max_memory)})")
    elif req.processes == 1:
        msg = f"no node in pool {pool} has {req.whole} GPUs (the largest has {max_gpus})"
    else:
        msg = f"pool {pool} cannot hold {_shape(req)} even when empty"
    return Reason("too-big", msg)


def over_limit(project: str, allocated: int, limit: int, need: int) -> Reason:
    """The job would take its project past its limit."""
    return Reason("limit", f"project {project} would exceed its limit of {gpus(limit)} "
                           f"({amount(allocated)} allocated, the job needs {amount(need)})")


def over_quota(project: str, np_allocated: int, quota: int, need: int) -> Reason:
    """A non-preemptible job that does not fit its project's quota."""
    return Reason("quota", f"a non-preemptible job runs only within its project's quota: "
                           f"project {project} uses {amount(np_allocated)}/{amount(quota)} "
                           f"GPUs for such jobs and this one needs {amount(need)}; "
                           "submit it as preemptible to run over quota")


def share_state(project: str, allocated: float, share: float) -> str:
    """``project a is at its fair share (4/4 GPUs)``, or ``over`` it, as the numbers read."""
    where = "over" if allocated > share + 0.5 else "at"  # as shown, to a milli-GPU
    return f"project {project} is {where} its fair share ({amount(allocated)}/{amount(share)} GPUs)"


def at_fair_share(project: str, allocated: int, share: float, need: int, pool: str) -> Reason:
    """Nothing is free, and the project's fair share forbids it to reclaim GPUs that
    others borrowed."""
    if allocated + 0.5 >= share:
        msg = share_state(project, allocated, share)
    else:
        msg = (f"project {project} would exceed its fair share ({amount(allocated)}/"
               f"{amount(share)} GPUs, the job needs {amount(need)})")
    return Reason("fair-share", f"{msg}; waiting for free GPUs in pool {pool}")


def no_room(req: GpuRequest, pool: str, room: int = 0, share: str | None = None) -> Reason:
    """No room now, and nothing the job may reclaim would make it (``room``: how many of
    a gang's processes fit on free GPUs; ``share``: the project's ``share_state`` where
    it is at or over its fair share)."""
    if req.memory:
        msg = f"no GPU with {format_size(req.memory)} free in pool {pool}"
    elif req.shared and req.processes > 1:
        msg = (f"no room for all {_shape(req)} in pool {pool} (a gang starts whole or "
               "not at all)")
    elif req.shared:
        msg = f"no GPU with {amount(req.milli)} free in pool {pool}"
    elif req.processes == 1:
        msg = f"no node with {_free(req.whole)} in pool {pool}"
    else:
        msg = (f"no room for all {_shape(req)} in pool {pool}: each process needs "
               f"{_free(req.whole)} on one node and there is room for {room} "
               "(a gang starts whole or not at all)")
    return Reason("no-room", msg if share is None else f"{msg}; {share}")


def _free(whole: int) -> str:
    return f"{whole} free GPU{'s' if whole > 1 else ''}"


def preempted(by: JobKey, own: bool) -> Reason:
    """Preempted this cycle to make room for job ``by``."""
    why = ("a non-preemptible job within the project's quota" if own
           else f"project {by[0]} is below its fair share")
    return Reason("preempted", f"preempted for {job_ref(by)} ({why}); waiting to run again")


def evicted(message: str) -> Reason:
    """Preempted because its node or project changed."""
    return Reason("preempted", f"{message}; waiting to run again")
