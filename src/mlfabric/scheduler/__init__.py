"""GPU workload scheduler: the pure decision core (events in, instructions out).

Drive it with ``Scheduler.handle(*events)``: add nodes and projects, submit jobs, and send
``Tick(now)`` to run a scheduling cycle; execute the ``Start``/``Preempt``/``Stop``
instructions it returns. Queries (``job``, ``jobs``, ``why_pending``, ``projects``,
``nodes``) report the state, and ``fair_shares`` is the pure share computation.
"""

from mlfabric.scheduler.events import (
    AddNode,
    AddProject,
    Delete,
    Event,
    Finish,
    RemoveNode,
    RemoveProject,
    Resume,
    Submit,
    Tick,
    UpdateNode,
    UpdateProject,
)
from mlfabric.scheduler.fairshare import ShareRequest, fair_shares, water_fill
from mlfabric.scheduler.instructions import Instruction, Preempt, Start, Stop
from mlfabric.scheduler.model import (
    DEFAULT_POOL,
    Job,
    JobState,
    Node,
    NodeState,
    Placement,
    Project,
    ProjectState,
    Reason,
)
from mlfabric.scheduler.policy import Scheduler

__all__ = [
    "DEFAULT_POOL",
    "AddNode",
    "AddProject",
    "Delete",
    "Event",
    "Finish",
    "Instruction",
    "Job",
    "JobState",
    "Node",
    "NodeState",
    "Placement",
    "Preempt",
    "Project",
    "ProjectState",
    "Reason",
    "RemoveNode",
    "RemoveProject",
    "Resume",
    "Scheduler",
    "ShareRequest",
    "Start",
    "Stop",
    "Submit",
    "Tick",
    "UpdateNode",
    "UpdateProject",
    "fair_shares",
    "water_fill",
]
