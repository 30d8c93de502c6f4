"""Every runtime passes the same suite (``mlfabric.testing.runtimes``)."""

import sys
import time
from dataclasses import replace
from pathlib import Path

from mlfabric.scheduler import Placement
from mlfabric.scheduler.runtimes import RUNTIMES, Run
from mlfabric.testing.runtimes import RuntimeConformance


class TestSimRuntime(RuntimeConformance, runtime="sim"): ...


class TestLocalRuntime(RuntimeConformance, runtime="local"):
    def test_a_stopped_run_leaves_no_zombie(self, tmp_path: Path) -> None:
        """The daemon that started a run and stopped it (a preemption) reaps its
        processes: a long-lived server does not collect zombies."""
        rt = RUNTIMES.get("local")
        run = Run(project="p", job="j", spec={"command": [sys.executable, "-c",
                                                          "import time; time.sleep(60)"]},
                  placements=(Placement("n1", (0,)),), job_dir=tmp_path / "job",
                  started_at=time.time())
        run = replace(run, processes=rt.start(run))
        time.sleep(0.3)
        rt.stop(run, grace_s=1)
        pid = rt.pid(run.processes[0])
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            state = "gone"
        assert state == "gone"
