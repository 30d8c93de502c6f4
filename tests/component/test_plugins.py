"""New backends join with a one-line test class: a storage driver, a runtime and a remote
transport written here, registered in their registries, each running the whole
conformance suite of ``mlfabric.testing``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any, ClassVar

from mlfabric.datasets.remote import TRANSPORTS, Stored
from mlfabric.datasets.remote.fs import FsspecLake
from mlfabric.errors import InvalidInput
from mlfabric.scheduler.runtimes import RUNTIMES, Outcome, Process, Run, Runtime
from mlfabric.storage.drivers import DRIVERS
from mlfabric.storage.drivers.local import LocalDriver
from mlfabric.testing.drivers import DriverConformance
from mlfabric.testing.remotes import RemoteConformance
from mlfabric.testing.runtimes import RuntimeConformance
from mlfabric.transfer.listing import mtime_of


class CopyingDriver(LocalDriver):
    """Clones always copy, never link or reflink: a driver for file systems where shared
    inodes are unwelcome."""

    name = "copying"

    def clone(self, storage: Any, volume: Any, snapshot: Any, dest: Any, mode: str,
              progress: Any) -> Any:
        return super().clone(storage, volume, snapshot, dest,
                             "link" if mode == "link" else "copy", progress)


class PopenRuntime(Runtime):
    """Processes of this very process, found again by a token in their handle (so only
    the process that started a run can poll or stop it)."""

    name = "popen"
    capabilities = frozenset({"processes"})
    _children: ClassVar[dict[str, subprocess.Popen[bytes]]] = {}

    def start(self, run: Run) -> tuple[Process, ...]:
        if not run.spec.get("command"):
            raise InvalidInput(f"job '{run.project}/{run.job}' has no command")
        out = []
        for rank in range(len(run.placements)):
            child = subprocess.Popen(list(run.spec["command"]), start_new_session=True)
            token = f"{run.project}/{run.job}/{rank}/{child.pid}"
            self._children[token] = child
            out.append(Process(rank, {"token": token}))
        return tuple(out)

    def _child(self, p: Process) -> subprocess.Popen[bytes] | None:
        return self._children.get(p.handle.get("token", ""))

    def poll(self, run: Run, now: float) -> Outcome | None:
        codes = [c.poll() if (c := self._child(p)) else -1 for p in run.processes]
        if any(code is None for code in codes):
            return None
        failed = [c for c in codes if c != 0]
        return Outcome("Failed", failed[0]) if failed else Outcome("Succeeded", 0)

    def stop(self, run: Run, grace_s: float) -> None:
        for p in run.processes:
            child = self._child(p)
            if child is not None and child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
                try:
                    child.wait(timeout=grace_s or 0.1)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()

    def pid(self, process: Process) -> int | None:
        child = self._child(process)
        return None if child is None else child.pid

    def alive(self, run: Run) -> bool:
        return all((c := self._child(p)) is not None and c.poll() is None
                   for p in run.processes)


class WalkingLake(FsspecLake):
    """Lists by walking folders instead of one recursive ``find``: for stores whose
    ``find`` is slow or missing."""

    def list(self, prefix: str) -> list[Stored]:
        out = []
        root = self.path(prefix)
        if not self.loc.fs.exists(root):
            return []
        for folder, _dirs, files in self.loc.fs.walk(root, detail=True):
            for name, info in files.items():
                out.append(Stored(self.loc.rel(f"{folder}/{name}"),
                                  int(info.get("size") or 0), mtime_of(info) or time.time()))
        return out


DRIVERS.register("copying", CopyingDriver)
RUNTIMES.register("popen", PopenRuntime)
TRANSPORTS.register("walking", WalkingLake)


class TestCopyingDriver(DriverConformance, driver="copying"): ...


class TestPopenRuntime(RuntimeConformance, runtime="popen"): ...


class TestWalkingLake(RemoteConformance, transport="walking", scheme="memory"): ...


def test_the_new_driver_is_the_one_that_ran(tmp_path: Any, monkeypatch: Any) -> None:
    from mlfabric import volumes

    monkeypatch.setenv("MLFABRIC_STORAGE_DRIVER", "copying")
    assert volumes.create("v", home=str(tmp_path / "h")).driver == "copying"
