"""``mlfabric job exec``: a command next to a running job (its variables and working
directory)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from mlfabric.errors import InvalidInput, MlfabricError
from mlfabric.home import open_home
from mlfabric.names import check_text
from mlfabric.scheduler import jobstore
from mlfabric.scheduler.records import ExecResult
from mlfabric.scheduler.runtimes import get_runtime
from mlfabric.scheduler.states import RUNNING
from mlfabric.units import parse_duration


def _exec_context(name: str, command: Sequence[str], project: str | None,
                  home: str | None) -> tuple[Any, list[str], dict[str, str], Path | None]:
    """The running job's row, and the argv, variables and folder of ``command`` next to
    it: inside its sandbox when it runs confined, never on the host then."""
    if not command:
        raise InvalidInput("give a command to run after --", field="command")
    for arg in command:
        check_text(str(arg), "command")
    st = open_home(home)

    def _q(conn: Connection) -> tuple[Any, Any]:
        row = jobstore.job_row(conn, name, project)
        return row, jobstore.project_row(conn, row.project)

    row, project_row = st.catalog.run_read(_q)
    if row.state != RUNNING:
        raise InvalidInput(f"job '{row.project}/{row.name}' is {row.state}, not Running",
                           field="job", value=name)
    run = jobstore.to_run(row, st.config.home, uid=project_row.uid)
    argv, env, cwd = get_runtime(row.runtime or "sim").exec_command(run, list(command))
    return row, argv, env, cwd


def _run(command: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    try:
        return subprocess.run(list(command), check=False, **kwargs)
    except OSError as exc:
        raise MlfabricError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from exc


def exec_in(name: str, command: Sequence[str], *, project: str | None = None,
            home: str | None = None) -> int:
    """Run ``command`` next to a running job (its variables and working directory)."""
    _, argv, env, cwd = _exec_context(name, command, project, home)
    return _run(argv, env=env, cwd=cwd).returncode


def exec_output(name: str, command: Sequence[str], *, project: str | None = None,
                timeout: float = 600.0, home: str | None = None) -> ExecResult:
    """Like ``exec_in`` but capture what it prints (for callers without a terminal)."""
    timeout = parse_duration(timeout, field="timeout")  # past a century the clock overflows
    row, argv, env, cwd = _exec_context(name, command, project, home)
    try:
        done = _run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise MlfabricError(f"command timed out after {timeout:g}s") from exc
    return ExecResult(job=f"{row.project}/{row.name}", exit_code=done.returncode,
                      output=done.stdout.decode("utf-8", errors="replace"))
