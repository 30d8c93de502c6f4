"""Run one job process and record its exit code: ``python -m ...launch EXIT_FILE -- CMD``.

The scheduler cannot ``waitpid`` a process another CLI invocation started, so this tiny
parent waits for the command and writes its exit code atomically (temp file + rename);
a missing file after the process is gone means it was killed (or lost).
"""

from __future__ import annotations

import signal
import subprocess
import sys

from mlfabric.durable import atomic_write


def _write(path: str, code: int) -> None:
    atomic_write(path, f"{code}\n")


def main(argv: list[str]) -> int:
    """Run ``argv[2:]`` (after ``EXIT_FILE --``), write its exit code, return it."""
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: launch EXIT_FILE -- COMMAND [ARGS...]\n")
        return 2
    exit_file, command = argv[0], argv[2:]
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        sys.stderr.write(f"mlfabric: cannot run {command[0]!r}: {exc.strerror or exc}\n")
        _write(exit_file, 127)
        return 127
    # The whole process group gets SIGTERM on preemption; the child decides how to end,
    # and this parent outlives it to record the code.
    signal.signal(signal.SIGTERM, lambda *_: None)
    code = child.wait()
    if code < 0:
        code = 128 - code  # killed by signal N: the shell's 128 + N
    _write(exit_file, code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
