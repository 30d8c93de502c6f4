"""``mlfabric job exec``: a command next to a running job (its variables and working
directory)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlfabric.errors import InvalidInput, MlfabricError
from mlfabric.home import open_home
from mlfabric.names import check_text
from mlfabric.scheduler import jobstore
from mlfabric.scheduler.records import ExecResult
from mlfabric.scheduler.runtimes.local import process_env
from mlfabric.units import parse_duration


def _exec_context(name: str, command: Sequence[str], project: str | None,
                  home: str | None) -> tuple[Any, dict[str, str], Path | None]:
    """The running job's row, variables and working directory for ``job exec``."""
    if not command:
        raise InvalidInput("give a command to run after --", field="command")
    for arg in command:
        check_text(str(arg), "command")
    st = open_home(home)
    row = st.catalog.run_read(lambda c: jobstore.job_row(c, name, project))
    if row.state != "Running":
        raise InvalidInput(f"job '{row.project}/{row.name}' is {row.state}, not Running",
                           field="job", value=name)
    run = jobstore.to_run(row, st.config.home)
    env = {**os.environ, **process_env(run, 0, 0)}
    env.pop("MASTER_PORT", None)
    return row, env, run.work_dir if run.work_dir.is_dir() else None


def _run(command: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    try:
        return subprocess.run(list(command), check=False, **kwargs)
    except OSError as exc:
        raise MlfabricError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from exc


def exec_in(name: str, command: Sequence[str], *, project: str | None = None,
            home: str | None = None) -> int:
    """Run ``command`` next to a running job (its variables and working directory)."""
    _, env, cwd = _exec_context(name, command, project, home)
    return _run(command, env=env, cwd=cwd).returncode


def exec_output(name: str, command: Sequence[str], *, project: str | None = None,
                timeout: float = 600.0, home: str | None = None) -> ExecResult:
    """Like ``exec_in`` but capture what it prints (for callers without a terminal)."""
    timeout = parse_duration(timeout, field="timeout")  # past a century the clock overflows
    row, env, cwd = _exec_context(name, command, project, home)
    try:
        done = _run(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise MlfabricError(f"command timed out after {timeout:g}s") from exc
    return ExecResult(job=f"{row.project}/{row.name}", exit_code=done.returncode,
                      output=done.stdout.decode("utf-8", errors="replace"))
