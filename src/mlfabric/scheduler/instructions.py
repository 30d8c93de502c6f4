"""What the scheduler asks a runtime to do: the instructions ``Scheduler.handle`` returns."""

from __future__ import annotations

from dataclasses import dataclass

from mlfabric.scheduler.model import Placement


@dataclass(frozen=True)
class Start:
    """Start every process of a job, process ``i`` at ``placements[i]``."""

    project: str
    job: str
    placements: tuple[Placement, ...]


@dataclass(frozen=True)
class Preempt:
    """Stop a job to free its GPUs; it stays queued (with its submit time) and runs again.

    ``by_project``/``by_job`` name the job it made room for, if any.
    """

    project: str
    job: str
    reason: str
    by_project: str | None = None
    by_job: str | None = None


@dataclass(frozen=True)
class Stop:
    """Stop a job for good (deleted, or past its interactive time limit)."""

    project: str
    job: str
    reason: str


Instruction = Start | Preempt | Stop
