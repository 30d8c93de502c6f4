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

from mlfabric import proctree
from mlfabric.errors import InvalidInput
from mlfabric.scheduler import engines, sandbox
from mlfabric.scheduler.runtimes.base import Outcome, Process, Run, Runtime, judge

_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # started by this process: reaped here
_LAUNCH = "mlfabric.scheduler.runtimes.launch"


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
    started = proctree.start_time(pid)
    return started is not None and started == proc.handle.get("start_time")


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


def _sandbox(proc: Process) -> proctree.Proc | None:
    """The sandbox's first process of ``proc`` (its pid 1), while it runs."""
    pid, started = proc.handle.get("sandbox_pid"), proc.handle.get("sandbox_start_time")
    if pid is None or started is None:
        return None
    found = (int(pid), int(started))
    return found if proctree.alive([found]) else None


def _tree(proc: Process) -> list[proctree.Proc]:
    """Every process of ``proc``: the rank's own, its sandbox's (which outlives bubblewrap
    outside when the job left something running) and all below them."""
    roots = [r for r in (_own(proc), _sandbox(proc)) if r is not None]
    out: list[proctree.Proc] = []
    for root in proctree.alive(roots):
        out += [p for p in (root, *proctree.descendants(root[0])) if p not in out]
    return out


def _own(proc: Process) -> proctree.Proc | None:
    pid, started = _pid(proc), proc.handle.get("start_time")
    return None if pid is None or started is None else (pid, int(started))


def confinement(run: Run) -> sandbox.Grant | None:
    """What the sandbox of ``run`` sees (None: it runs unconfined, a job without a
    project uid or an admin's ``MLFABRIC_UNSAFE_NO_SANDBOX``). The folders it writes are
    made its project's; refused when this host cannot confine."""
    if run.uid is None or sandbox.unsafe():
        for v in run.mounts.binds()[:1]:
            raise InvalidInput(f"volume {v.volume} is asked for at {v.at}: absolute mount "
                               "paths need the sandbox (jobs here run unconfined); use a "
                               "relative path", field="volume")
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
    at = tuple((v.source, v.at, v.read_only) for v in mounts.binds() if v.at)
    return sandbox.Grant(uid=uid, gid=uid, workdir=str(run.work_dir), rw=tuple(rw),
                         ro=tuple(ro), gpus=any(p.gpus for p in run.placements), at=at,
                         host_shm=mounts.host_shm)


class LocalRuntime(Runtime):
    """Real processes, logs in files, exit codes from ``launch``."""

    name = "local"
    capabilities = frozenset({"processes"})

    def exit_path(self, run: Run, rank: int) -> Path:
        return run.job_dir / f"rank-{rank}.exit"

    def start(self, run: Run) -> tuple[Process, ...]:
        self.prepare(run)
        grant = confinement(run)
        port = free_port()
        return tuple(self.start_rank(run, rank, grant, process_env(run, rank, port))
                     for rank in range(len(run.placements)))

    def prepare(self, run: Run) -> None:
        """Check every rank has a command; clear what an earlier run of the job left for
        its engine; make its working folder with its volume links."""
        if not all(engines.rank_commands(run.spec, run.job_dir, len(run.placements))):
            raise InvalidInput(f"job '{run.project}/{run.job}' has no command to run on the "
                               f"{self.name} runtime", field="command")
        run.work_dir.mkdir(parents=True, exist_ok=True)
        engines.prepare(run.spec, run.job_dir)
        for rel, target in run.mounts.links().items():
            link = run.work_dir / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target)

    def start_rank(self, run: Run, rank: int, grant: sandbox.Grant | None,
                   variables: dict[str, str]) -> Process:
        """Start process ``rank`` of ``run`` with ``variables``, confined by ``grant``."""
        command = engines.rank_commands(run.spec, run.job_dir, len(run.placements))[rank]
        self.exit_path(run, rank).unlink(missing_ok=True)
        argv = [sys.executable, "-m", _LAUNCH, str(self.exit_path(run, rank)), "--", *command]
        info_r, info_w = os.pipe() if grant is not None else (None, None)
        if grant is None:
            env = {**os.environ, **variables}
        else:
            argv = sandbox.wrap(replace(grant, env=variables), argv, info_fd=info_w)
            env = dict(os.environ)  # bwrap's own; the job gets only its variables
        try:
            with open(run.log_path(rank), "ab") as log:
                child = subprocess.Popen(
                    argv, cwd=run.work_dir, env=env, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    pass_fds=() if info_w is None else (info_w,))
        finally:
            if info_w is not None:
                os.close(info_w)
        _CHILDREN[child.pid] = child
        handle = {"pid": child.pid, "start_time": proctree.start_time(child.pid)}
        inner = None if info_r is None else sandbox.read_info(info_r)
        if inner is not None:
            handle |= {"sandbox_pid": inner, "sandbox_start_time": proctree.start_time(inner)}
        return Process(rank, handle)

    def exit_code(self, run: Run, rank: int) -> int | None:
        """The exit code ``launch`` recorded for process ``rank``, if it has."""
        try:
            return int(self.exit_path(run, rank).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def code(self, run: Run, proc: Process) -> int | bool | None:
        """The exit code of ``proc``; None while it runs; False when it vanished without one."""
        code = self.exit_code(run, proc.rank)
        if code is None and not is_alive(proc):
            code = self.exit_code(run, proc.rank)  # written just before it exited
            if code is None:
                return False
        if code is not None:
            _reap(_pid(proc))
        return code

    def poll(self, run: Run, now: float) -> Outcome | None:
        out = judge({p.rank: self.code(run, p) for p in run.processes},
                    leader=engines.leader(run.spec))
        if out is not None:
            self.stop(run, grace_s=0)  # what the job left running (a daemon) ends with it
        return out

    def pid(self, process: Process) -> int | None:
        return _pid(process)

    def exec_command(self, run: Run, command: list[str]) -> tuple[list[str], dict[str, str],
                                                                   Path | None]:
        variables = process_env(run, 0, 0)
        variables.update(engines.variables(run.spec, run.job_dir))
        return self.exec_with(run, command, variables)

    def exec_with(self, run: Run, command: list[str], variables: dict[str, str]) -> tuple[
            list[str], dict[str, str], Path | None]:
        """``exec_command`` with the variables rank 0 was started with."""
        variables = {k: v for k, v in variables.items() if k != "MASTER_PORT"}
        grant = confinement(run)
        if grant is None:
            cwd = run.work_dir if run.work_dir.is_dir() else None
            return command, {**os.environ, **variables}, cwd
        inside = _sandbox(run.processes[0]) if run.processes else None
        if inside is None:
            raise InvalidInput(f"job '{run.project}/{run.job}' has no running sandbox to "
                               "run a command in", field="job", value=run.job)
        return sandbox.enter(inside[0], replace(grant, env=variables), command), \
            dict(os.environ), None

    def alive(self, run: Run) -> bool:
        return all(is_alive(p) and self.exit_code(run, p.rank) is None for p in run.processes)

    def stop(self, run: Run, grace_s: float) -> None:
        """SIGTERM each rank's process group and give the ranks ``grace_s`` to end (to
        write their exit codes); then SIGKILL the group and the whole tree of each rank,
        so processes that started sessions of their own (kernels, terminals, daemons) and
        everything in a sandbox (its pid 1 takes its namespace along) are gone when this
        returns. bubblewrap, outside, ends at once on SIGTERM: the job inside still has
        the grace period."""
        ours = [p for p in run.processes if is_alive(p)]
        trees = {p.rank: _tree(p) for p in run.processes}
        groups = {p.rank: proctree.in_group(trees[p.rank], int(p.handle["pid"]))
                  for p in ours}  # what the SIGTERM reaches
        for proc in ours:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(
                self.exit_code(run, rank) is None and proctree.alive(group)
                for rank, group in groups.items()):
            time.sleep(0.02)
        for proc in ours:
            _signal_group(proc, signal.SIGKILL)
        everything = [p for tree in trees.values() for p in tree]
        proctree.kill(everything, signal.SIGKILL)
        proctree.wait_gone(everything, 5.0)
        for proc in run.processes:  # a stopped run is not polled again: no zombie stays
            _reap(_pid(proc))


def _signal_group(proc: Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(_pid(proc), sig)  # type: ignore[arg-type]  # session leader: pgid == pid
