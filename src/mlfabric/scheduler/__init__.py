"""GPU workload scheduler: the pure decision core (events in, instructions out).

Drive it with ``Scheduler.handle(*events)``: add nodes and projects, submit jobs, and send
``Tick(now)`` to run a scheduling cycle; execute the ``Start``/``Preempt``/``Stop``
instructions it returns. Queries (``job``, ``jobs``, ``why_pending``, ``projects``,
``nodes``) report the state, and ``fair_shares`` is the pure share computation.
"""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "ACTIVE": "states",
    "AddNode": "events",
    "AddProject": "events",
    "DEFAULT_POOL": "model",
    "Delete": "events",
    "Event": "events",
    "Finish": "events",
    "Instruction": "instructions",
    "Mounts": "mounts",
    "mount_env_var": "mounts:env_var",
    "InvalidTransition": "states",
    "Job": "model",
    "JobState": "model",
    "Node": "model",
    "NodeState": "model",
    "Placement": "model",
    "Preempt": "instructions",
    "Project": "model",
    "ProjectState": "model",
    "Reason": "model",
    "RemoveNode": "events",
    "RemoveProject": "events",
    "Resume": "events",
    "Scheduler": "policy",
    "ShareRequest": "fairshare",
    "Start": "instructions",
    "STATES": "states",
    "Stop": "instructions",
    "Submit": "events",
    "Tick": "events",
    "UpdateNode": "events",
    "UpdateProject": "events",
    "fair_shares": "fairshare",
    "water_fill": "fairshare",
})
