"""What happens to the scheduler: the events a loop feeds into ``Scheduler.handle``.

Only ``Tick`` runs a scheduling cycle; the others change state, and may stop or
preempt jobs they affect (a deleted job, a removed node). Time enters only through
``Tick.now`` and ``Job.submit_time``: the scheduler never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlfabric.scheduler.model import Job, Node, Placement, Project


@dataclass(frozen=True)
class AddNode:
    """A node joins its pool, with all GPUs free."""

    node: Node


@dataclass(frozen=True)
class UpdateNode:
    """Replace a node's description; jobs on GPUs it no longer offers are preempted."""

    node: Node


@dataclass(frozen=True)
class RemoveNode:
    """A node leaves; jobs on it are preempted and queue again."""

    name: str


@dataclass(frozen=True)
class AddProject:
    """A new project."""

    project: Project


@dataclass(frozen=True)
class UpdateProject:
    """New quota, weight, limits or pool; moving pools preempts its running jobs."""

    project: Project


@dataclass(frozen=True)
class RemoveProject:
    """Remove a project that has no jobs."""

    name: str


@dataclass(frozen=True)
class Submit:
    """Queue a new job (its ``submit_time`` orders it)."""

    job: Job


@dataclass(frozen=True)
class Delete:
    """The user deletes a job: a running one is stopped."""

    project: str
    name: str


@dataclass(frozen=True)
class Finish:
    """A running job's processes ended on their own: ``succeeded``, ``failed`` or
    ``lost`` (the event of ``states.TRANSITIONS`` it makes)."""

    project: str
    name: str
    outcome: str = "succeeded"


@dataclass(frozen=True)
class Resume:
    """A job is already running at ``placements`` (used when reloading saved state)."""

    project: str
    name: str
    placements: tuple[Placement, ...]
    started_at: float


@dataclass(frozen=True)
class Tick:
    """Run one scheduling cycle at time ``now`` (seconds on the caller's clock)."""

    now: float


Event = (AddNode | UpdateNode | RemoveNode | AddProject | UpdateProject | RemoveProject
         | Submit | Delete | Finish | Resume | Tick)
