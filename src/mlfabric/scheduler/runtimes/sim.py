"""The ``sim`` runtime: starts nothing; a job runs until deleted or for ``sim_duration``."""

from __future__ import annotations

from mlfabric.scheduler.runtimes.base import Outcome, Process, Run, Runtime


class SimRuntime(Runtime):
    """For scenario replay and simulation: decisions happen, processes do not."""

    name = "sim"

    def start(self, run: Run) -> tuple[Process, ...]:
        return tuple(Process(rank=i) for i in range(len(run.placements)))

    def poll(self, run: Run, now: float) -> Outcome | None:
        duration = run.spec.get("sim_duration")
        if duration is None or now - run.started_at < float(duration):
            return None
        code = int(run.spec.get("sim_exit_code") or 0)
        return Outcome("Succeeded" if code == 0 else "Failed", code)

    def stop(self, run: Run, grace_s: float) -> None:
        return None

    def alive(self, run: Run) -> bool:
        return True
