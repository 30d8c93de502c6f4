"""Rank 0 of a Dask cluster job with a command: ``python -m ...dask_driver SCHEDULER_FILE
WORKERS -- COMMAND``.

Starts ``dask scheduler``, waits until it has written its address and ``WORKERS`` workers
have joined, runs the command with ``MLFABRIC_DASK_ADDRESS`` set, stops the scheduler and
exits with the command's exit code (the job's). Runs inside the job's sandbox.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from mlfabric.scheduler.engines.dask import client_env, read_address, scheduler_argv

START_TIMEOUT_S = 120.0


def _fail(message: str, code: int = 1) -> int:
    sys.stderr.write(f"mlfabric: {message}\n")
    return code


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--" or not argv[1].isdigit():
        return _fail("usage: dask_driver SCHEDULER_FILE WORKERS -- COMMAND [ARGS...]", 2)
    sched_file, workers, command = Path(argv[0]), int(argv[1]), argv[3:]
    scheduler = subprocess.Popen(scheduler_argv(sys.executable, sched_file))
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while (found := read_address(sched_file)) is None:
            if scheduler.poll() is not None:
                return _fail(f"the Dask scheduler exited with code {scheduler.returncode} "
                             "before it was up", scheduler.returncode or 1)
            if time.monotonic() > deadline:
                return _fail(f"the Dask scheduler was not up after {START_TIMEOUT_S:g}s")
            time.sleep(0.05)
        address = found[0]
        from distributed import Client

        with Client(address, timeout=START_TIMEOUT_S) as client:
            try:
                client.wait_for_workers(workers, timeout=max(1.0, deadline - time.monotonic()))
            except TimeoutError:
                have = len(client.scheduler_info(n_workers=-1)["workers"])
                return _fail(f"only {have} of {workers} Dask workers joined in "
                             f"{START_TIMEOUT_S:g}s")
        print(f"mlfabric: Dask cluster up at {address} with {workers} worker(s)", flush=True)
        try:
            code = subprocess.call(command, env={**os.environ, **client_env(address)})
        except OSError as exc:
            return _fail(f"cannot run {command[0]!r}: {exc.strerror or exc}", 127)
        return 128 - code if code < 0 else code  # killed by signal N: the shell's 128 + N
    finally:
        _stop(scheduler)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
