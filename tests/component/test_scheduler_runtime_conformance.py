"""Every runtime passes the same suite: start, poll while running, stop, poll an end."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from mlfabric.scheduler.model import Placement
from mlfabric.scheduler.runtimes import get_runtime
from mlfabric.scheduler.runtimes.base import Outcome, Run, Runtime


def _run(tmp: Path, command: list[str], spec: dict | None = None) -> Run:
    return Run(project="p", job="j", spec={"command": command, **(spec or {})},
               placements=(Placement("n1", (0,)), Placement("n1", (1,))),
               job_dir=tmp / "job", started_at=time.time())


def _wait(rt: Runtime, run: Run, timeout: float = 30) -> Outcome:
    deadline = time.monotonic() + timeout
    while True:
        out = rt.poll(run, time.time())
        if out is not None:
            return out
        assert time.monotonic() < deadline, "run did not end"
        time.sleep(0.05)


class RuntimeSuite:
    name = ""

    @pytest.fixture
    def rt(self) -> Runtime:
        return get_runtime(self.name)

    def test_a_started_run_is_alive_until_stopped(self, rt: Runtime, tmp_path: Path) -> None:
        run = _run(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"])
        procs = rt.start(run)
        run = Run(**{**run.__dict__, "processes": procs})
        try:
            assert [p.rank for p in procs] == [0, 1]
            assert rt.poll(run, time.time()) is None and rt.alive(run)
        finally:
            rt.stop(run, grace_s=1)
        if self.name == "local":
            assert not any(Path(f"/proc/{p.pid}").exists() and rt.alive(run) for p in procs)

    def test_a_run_ends_with_its_exit_code(self, rt: Runtime, tmp_path: Path) -> None:
        run = _run(tmp_path, [sys.executable, "-c", "raise SystemExit(0)"],
                   {"sim_duration": 0.0})
        run = Run(**{**run.__dict__, "processes": rt.start(run)})
        assert _wait(rt, run) == Outcome("Succeeded", 0)


class TestSimRuntime(RuntimeSuite):
    name = "sim"


class TestLocalRuntime(RuntimeSuite):
    name = "local"
