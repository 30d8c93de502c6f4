"""The runtime conformance suite: start, poll while running, stop, and the way a run
ends, through the ``Runtime`` interface only."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from mlfabric.scheduler import Placement
from mlfabric.scheduler.runtimes import RUNTIMES, Outcome, Run, Runtime
from mlfabric.testing import Conformance


def _run(node: str, tmp: Path, command: list[str], spec: dict | None = None) -> Run:
    return Run(project="p", job="j", spec={"command": command, **(spec or {})},
               placements=(Placement(node, (0,)), Placement(node, (1,))),
               job_dir=tmp / "job", started_at=time.time())


def _wait(rt: Runtime, run: Run, timeout: float = 30) -> Outcome:
    deadline = time.monotonic() + timeout
    while True:
        out = rt.poll(run, time.time())
        if out is not None:
            return out
        assert time.monotonic() < deadline, "run did not end"
        time.sleep(0.05)


class RuntimeConformance(Conformance):
    """``class TestMine(RuntimeConformance, runtime="mine"): ...`` (``node``: the node
    the runs are placed on, for a runtime that knows its nodes)."""

    runtime = ""
    node = "n1"

    @pytest.fixture
    def rt(self) -> Runtime:
        return RUNTIMES.get(self.runtime)

    def test_a_started_run_is_alive_until_stopped(self, rt: Runtime, tmp_path: Path) -> None:
        run = _run(self.node, tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"])
        run = replace(run, processes=rt.start(run))
        try:
            assert [p.rank for p in run.processes] == [0, 1]
            assert rt.poll(run, time.time()) is None and rt.alive(run)
            time.sleep(0.5)  # past the runtime's own start-up: a stop now ends a settled run
            assert rt.poll(run, time.time()) is None and rt.alive(run)
        finally:
            rt.stop(run, grace_s=1)
        if "processes" in rt.capabilities:
            pids = [rt.pid(p) for p in run.processes]
            assert all(pids) and len(set(pids)) == 2
            assert not rt.alive(run)
            assert _wait(rt, run).state in ("Failed", "Lost")

    def test_handles_survive_the_catalog(self, rt: Runtime, tmp_path: Path) -> None:
        """A handle is plain data: another process (here: a rebuilt Run) finds the run."""
        import json

        from mlfabric.scheduler.runtimes import Process

        run = _run(self.node, tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"])
        started = rt.start(run)
        stored = json.loads(json.dumps([p.to_dict() for p in started]))
        again = replace(run, processes=tuple(Process.from_dict(p) for p in stored))
        try:
            assert again.processes == started
            assert rt.alive(again)
        finally:
            rt.stop(again, grace_s=1)

    def test_start_all_starts_each_run_and_puts_a_failure_in_its_place(
            self, rt: Runtime, tmp_path: Path) -> None:
        """A cycle starts its placed jobs together: each starts as ``start`` would, and
        one that cannot (here: no command) gets its error without stopping the rest."""
        from mlfabric.errors import MlfabricError

        sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
        runs = [replace(_run(self.node, tmp_path, command), job=job,
                        job_dir=tmp_path / f"job-{job}")
                for job, command in (("a", sleep), ("b", []), ("c", sleep))]
        results = rt.start_all(runs)
        started = [replace(run, processes=got) for run, got in zip(runs, results, strict=True)
                   if not isinstance(got, MlfabricError)]
        try:
            assert len(results) == 3
            for got in (results[0], results[2]):
                assert not isinstance(got, MlfabricError), got
                assert [p.rank for p in got] == [0, 1]
            for run in started:
                assert rt.poll(run, time.time()) is None
            if "processes" in rt.capabilities:
                assert isinstance(results[1], MlfabricError)
                assert "has no command" in str(results[1])
                assert len({rt.pid(p) for run in started for p in run.processes}) == 4
        finally:
            for run in started:
                rt.stop(run, grace_s=1)

    def test_a_run_ends_with_its_exit_code(self, rt: Runtime, tmp_path: Path) -> None:
        run = _run(self.node, tmp_path, [sys.executable, "-c", "raise SystemExit(0)"],
                   {"sim_duration": 0.0})
        run = replace(run, processes=rt.start(run))
        assert _wait(rt, run) == Outcome("Succeeded", 0)

    def test_a_failing_process_fails_the_run(self, rt: Runtime, tmp_path: Path) -> None:
        run = _run(self.node, tmp_path, [sys.executable, "-c", "raise SystemExit(3)"],
                   {"sim_duration": 0.0, "sim_exit_code": 3})
        run = replace(run, processes=rt.start(run))
        out = _wait(rt, run)
        assert (out.state, out.exit_code) == ("Failed", 3)
