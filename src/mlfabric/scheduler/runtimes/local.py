"""The ``local`` runtime: each process of a job is a real process on this machine.

Processes start in their own session (so a process group can be signalled as a whole),
under ``launch`` which records the exit code in ``rank-N.exit`` next to ``rank-N.log``.
A process is recognised again by its pid and the kernel's start time (``/proc/PID/stat``
field 22), so a pid the kernel reused is never mistaken for the job.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from mlfabric.errors import InvalidInput
from mlfabric.scheduler import sandbox
from mlfabric.scheduler.runtimes.base import Outcome, Process, Run, Runtime

_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # started by this process: reaped here
_LAUNCH = "mlfabric.scheduler.runtimes.launch"


def proc_stat(pid: int) -> tuple[int, str] | None:
    """(kernel start time in clock ticks, state letter) of ``pid``, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[19]), fields[0]


def _reap(pid: int | None) -> None:
    child = _CHILDREN.get(pid) if pid is not None else None
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]  # type: ignore[arg-type]


def _pid(proc: Process) -> int | None:
    pid = proc.handle.get("pid")
    return int(pid) if pid is not None else None


def is_alive(proc: Process) -> bool:
    """Whether ``proc`` still runs and is the process that was started (not a reused pid)."""
    pid = _pid(proc)
    if pid is None:
        return False
    _reap(pid)
    stat = proc_stat(pid)
    return stat is not None and stat[1] != "Z" and stat[0] == proc.handle.get("start_time")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for ``MASTER_PORT``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_env(run: Run, rank: int, master_port: int) -> dict[str, str]:
    """The variables process ``rank`` of ``run`` sees on top of the scheduler's own."""
    spec = run.spec
    pl = run.placements[rank]
    local_rank = sum(1 for p in run.placements[:rank] if p.node == pl.node)
    env = {
        "MLFABRIC_PROJECT": run.project, "MLFABRIC_JOB": run.job,
        "MLFABRIC_NODE": pl.node, "MLFABRIC_JOB_DIR": str(run.job_dir),
        "CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in pl.gpus),
        "RANK": str(rank), "WORLD_SIZE": str(len(run.placements)),
        "LOCAL_RANK": str(local_rank),
        "LOCAL_WORLD_SIZE": str(sum(1 for p in run.placements if p.node == pl.node)),
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(master_port),
    }
    if pl.fraction is not None:
        env["MLFABRIC_GPU_FRACTION"] = f"{pl.fraction:g}"
    memory = spec.get("gpu_memory")
    if memory is None and pl.fraction is not None and run.node_memory.get(pl.node):
        memory = int(pl.fraction * run.node_memory[pl.node])
    if memory:
        env["MLFABRIC_GPU_MEMORY_LIMIT"] = str(int(memory))
    env.update({str(k): str(v) for k, v in (spec.get("env") or {}).items()})
    env.update(run.mounts.variables())
    return env


def _inside(pid: int | None) -> int | None:
    """A process inside the sandbox whose bubblewrap is ``pid`` (bubblewrap itself stays
    outside the namespaces it makes)."""
    if pid is None:
        return None
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def confinement(run: Run) -> sandbox.Grant | None:
    """What the sandbox of ``run`` sees (None: it runs unconfined, a job without a
    project uid or an admin's ``MLFABRIC_UNSAFE_NO_SANDBOX``). The folders it writes are
    made its project's; refused when this host cannot confine."""
    if run.uid is None or sandbox.unsafe():
        return None
    sandbox.check()
    uid = run.uid
    mounts = run.mounts
    volumes = [v.source for v in mounts.volumes if not v.read_only]
    # What the job writes is its project's: entries the platform put there since (a
    # restore, a pull, a copy by an admin) change hands; a link clone's shared objects
    # never do (they are mounted read-only).
    if os.geteuid() == 0:  # else every job runs as the one user that owns it all
        for path in (str(run.job_dir), *mounts.state_dirs, *volumes):
            sandbox.own(path, uid, uid)
    rw = [str(run.job_dir), *volumes, *mounts.state_dirs]
    ro = [*(v.source for v in mounts.volumes if v.read_only),
          *(d.source for d in mounts.datasets)]
    return sandbox.Grant(uid=uid, gid=uid, workdir=str(run.work_dir), rw=tuple(rw),
                         ro=tuple(ro), gpus=any(p.gpus for p in run.placements))


class LocalRuntime(Runtime):
    """Real processes, logs in files, exit codes from ``launch``."""

    name = "local"
    capabilities = frozenset({"processes"})

    def exit_path(self, run: Run, rank: int) -> Path:
        return run.job_dir / f"rank-{rank}.exit"

    def start(self, run: Run) -> tuple[Process, ...]:
        command = [str(c) for c in run.spec.get("command") or []]
        if not command:
            raise InvalidInput(f"job '{run.project}/{run.job}' has no command to run on the "
                               "local runtime", field="command")
        run.work_dir.mkdir(parents=True, exist_ok=True)
        for rel, target in run.mounts.links().items():
            link = run.work_dir / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target)
        grant = confinement(run)
        port = free_port()
        out: list[Process] = []
        for rank in range(len(run.placements)):
            self.exit_path(run, rank).unlink(missing_ok=True)
            argv = [sys.executable, "-m", _LAUNCH, str(self.exit_path(run, rank)), "--",
                    *command]
            if grant is None:
                env = {**os.environ, **process_env(run, rank, port)}
            else:
                argv = sandbox.wrap(replace(grant, env=process_env(run, rank, port)), argv)
                env = dict(os.environ)  # bwrap's own; the job gets only its variables
            with open(run.log_path(rank), "ab") as log:
                child = subprocess.Popen(
                    argv, cwd=run.work_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True)
            _CHILDREN[child.pid] = child
            stat = proc_stat(child.pid)
            out.append(Process(rank, {"pid": child.pid,
                                      "start_time": stat[0] if stat else None}))
        return tuple(out)

    def _code(self, run: Run, rank: int) -> int | None:
        try:
            return int(self.exit_path(run, rank).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def poll(self, run: Run, now: float) -> Outcome | None:
        codes: list[int] = []
        lost: list[int] = []
        for proc in run.processes:
            code = self._code(run, proc.rank)
            if code is None and not is_alive(proc):
                code = self._code(run, proc.rank)  # written just before it exited
                if code is None:
                    lost.append(proc.rank)
                    continue
            if code is not None:
                _reap(_pid(proc))
                codes.append(code)
        if lost:
            self.stop(run, grace_s=0)
            ranks = ", ".join(str(r) for r in lost)
            return Outcome("Lost", None, f"process(es) of rank {ranks} vanished "
                                         "without an exit code")
        failed = [c for c in codes if c != 0]
        if failed:
            self.stop(run, grace_s=0)
            return Outcome("Failed", failed[0])
        if len(codes) == len(run.processes):
            return Outcome("Succeeded", 0)
        return None

    def pid(self, process: Process) -> int | None:
        return _pid(process)

    def exec_command(self, run: Run, command: list[str]) -> tuple[list[str], dict[str, str],
                                                                   Path | None]:
        variables = process_env(run, 0, 0)
        variables.pop("MASTER_PORT", None)
        grant = confinement(run)
        if grant is None:
            cwd = run.work_dir if run.work_dir.is_dir() else None
            return command, {**os.environ, **variables}, cwd
        inside = _inside(_pid(run.processes[0]) if run.processes else None)
        if inside is None:
            raise InvalidInput(f"job '{run.project}/{run.job}' has no running sandbox to "
                               "run a command in", field="job", value=run.job)
        return sandbox.enter(inside, replace(grant, env=variables), command), \
            dict(os.environ), None

    def alive(self, run: Run) -> bool:
        return all(is_alive(p) or self._code(run, p.rank) is not None for p in run.processes)

    def stop(self, run: Run, grace_s: float) -> None:
        ours = [p for p in run.processes if is_alive(p)]
        live = list(ours)
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            for proc in live:
                _signal_group(proc, sig)
            deadline = time.monotonic() + wait
            while live and time.monotonic() < deadline:
                time.sleep(0.02)
                live = [p for p in live if is_alive(p)]
            if not live:
                break
        for proc in ours:  # leftovers of the group (a leader's orphans) go too
            _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(_pid(proc), sig)  # type: ignore[arg-type]  # session leader: pgid == pid
