"""Shared test helpers: run the CLI as a user would, fingerprint trees."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlfabric.testing.trees import tree_digest, write_tree

__all__ = ["tree_digest", "write_tree"]  # shared with the conformance suites

MLFABRIC = str(Path(sys.executable).parent / "mlfabric")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(home: Path | str, *args: str, input: str | None = None, timeout: float = 120,
            env: dict[str, str] | None = None, process: bool = False) -> Result:
    """``mlfabric --home HOME ARGS...`` as a user types it: its exit code, stdout and
    stderr. In this process by default (as typer's CliRunner runs a command: the same
    entry point, arguments, environment and streams, without paying the interpreter's
    start-up per call); in a subprocess with ``process=True``, for what only a process
    shows (start-up, signals, what a child writes to the terminal, ``PYTHONPATH``).
    ``home`` is made if missing (an empty folder is a home before its first use; only a
    ``--home`` that does not exist, a typo, is refused)."""
    Path(home).mkdir(parents=True, exist_ok=True)
    argv = ["--home", str(home), *args]
    if process:
        full_env = {**os.environ, **(env or {})}
        p = subprocess.run([MLFABRIC, *argv], input=input, text=True, capture_output=True,
                           timeout=timeout, env=full_env)
        return Result(p.returncode, p.stdout, p.stderr)
    return _in_process(argv, input, env or {})


def _in_process(argv: list[str], input: str | None, env: dict[str, str]) -> Result:
    from mlfabric import console
    from mlfabric.cli import backend
    from mlfabric.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    saved_env = {k: os.environ.get(k) for k in env}
    opts = console.OPTIONS
    saved_opts = (opts.home, opts.output, opts.quiet)
    opts.home, opts.output, opts.quiet = None, "", False
    console.console.file, console.err_console.file = out, err
    code = 0
    try:
        os.environ.update(env)
        with (contextlib.redirect_stdout(out), contextlib.redirect_stderr(err),
              _stdin(input)):
            main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        opts.home, opts.output, opts.quiet = saved_opts
        console.console.file, console.err_console.file = None, None  # type: ignore[assignment]
        backend.close()
    return Result(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _stdin(text: str | None) -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = io.StringIO(text or "")
    try:
        yield
    finally:
        sys.stdin = saved


def make_run(port: int) -> list[list[str]]:
    """The commands ``make run PORT=port`` runs (its install step left out), as the
    Makefile spells them, one per recipe line: the last one is the server."""
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run(["make", "-s", "-n", "-o", ".venv/.installed-run", "-C", str(root),
                        "run", f"PORT={port}"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [shlex.split(line) for line in r.stdout.splitlines() if line.strip()]


def require_root(why: str) -> None:
    """Root-only tests fail loudly in CI (which runs as root) and skip elsewhere."""
    import pytest

    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        pytest.fail(f"this test needs root ({why}), and CI runs as root")
    pytest.skip(f"needs root: {why}")


def loop_mount(image: Path, mountpoint: Path, mkfs: list[str], size: str = "256M") -> None:
    """Create a file-system image and loop-mount it (root)."""
    subprocess.run(["truncate", "-s", size, str(image)], check=True)
    subprocess.run([*mkfs, str(image)], check=True, capture_output=True)
    mountpoint.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], check=True,
                   capture_output=True)


def unmount(mountpoint: Path) -> None:
    subprocess.run(["umount", "-l", str(mountpoint)], check=False, capture_output=True)


def manifest_digest(m) -> dict[str, tuple[str, int]]:  # type: ignore[no-untyped-def]
    """A snapshot manifest in ``tree_digest`` form, to compare with a real tree."""
    from mlfabric.storage.manifest import DIR, FILE

    out: dict[str, tuple[str, int]] = {}
    for e in m.entries.values():
        if e.kind == FILE:
            out[e.path] = (e.ref.partition(":")[2], stat.S_IMODE(e.mode))
        elif e.kind == DIR:
            out[e.path] = ("dir", stat.S_IMODE(e.mode))
        else:
            out[e.path] = ("link:" + e.ref, 0)
    return out


def run_on_terminal(home: Path | str, *args: str, answer: str) -> Result:
    """``mlfabric --home HOME ARGS...`` in a process whose stdin is a terminal (a pty),
    as a person types it, answering ``answer`` to what it asks."""
    import pty

    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer.encode() + b"\n")
        p = subprocess.run([MLFABRIC, "--home", str(home), *args], stdin=terminal,
                           text=True, capture_output=True, timeout=120)
    finally:
        os.close(terminal)
        os.close(controller)
    return Result(p.returncode, p.stdout, p.stderr)


# A third-party app as an installed distribution lays it out: a package with an
# ``mlfabric.apps`` entry point, a CLI noun, one REST route and a dashboard page.
_TEST_APP = {
    "hello_app/__init__.py": '''
from mlfabric.apps import App, Route

APP = App(name="hello", help="Say hello (a test app).", module="hello_app",
          cli="hello_app.cli:app", page="web",
          routes=(Route("greet", "GET", "/hello/greet", access="any", refs="name:text"),))


def greet(name: str = "world", *, home: str | None = None) -> dict[str, str]:
    """A greeting, from the library."""
    return {"greeting": f"hello, {name}"}
''',
    "hello_app/cli.py": '''
import typer

from mlfabric.console import OPTIONS, emit_json, say

app = typer.Typer(no_args_is_help=True)


@app.command("greet")
def greet(name: str = typer.Option("world", "--name")) -> None:
    """Say hello."""
    import hello_app

    out = hello_app.greet(name, home=OPTIONS.home)
    emit_json(out) if OPTIONS.json else say(out["greeting"])
''',
    "hello_app/web/index.html": '''<!doctype html>
<html><head><meta charset="utf-8"><script src="/dashboard/appkit.js"></script></head>
<body><p data-testid="greeting">...</p>
<script>
const out = document.querySelector('[data-testid="greeting"]');
mlfabric.api("/api/v1/hello/greet?name=page").then(
  (r) => { out.textContent = r.greeting; },
  (e) => { out.textContent = `error: ${e.message}`; });
</script></body></html>
''',
    "hello_app-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: hello-app\nVersion: 0.1\n",
    "hello_app-0.1.dist-info/entry_points.txt": "[mlfabric.apps]\nhello = hello_app:APP\n",
}


def install_test_app(site: Path) -> dict[str, str]:
    """Lay the test app ``hello`` out on ``site``; the variables that put it on the path."""
    for rel, text in _TEST_APP.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
