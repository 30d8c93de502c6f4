"""A workspace job's process: ``python -m mlfabric.workspaces.launch --dir DIR
--root-var VAR [--link PATH=VAR ...]`` runs JupyterLab on the volume named by ``$VAR``.

It links the extra volumes and cached datasets into the root, then runs JupyterLab as a
child subreaper: kernels and terminals start sessions of their own, and when JupyterLab
dies they are re-parented here instead of to init, so this process can always find them.
JupyterLab runs in a process group of its own, so a stop's SIGTERM to the job's group
reaches it once, forwarded from here (two make it shut down twice over); it gets SIGKILL
from the kernel if this process dies first. On SIGTERM JupyterLab shuts its kernels
down; whatever it leaves is terminated before this process exits. Every descendant is
also recorded in ``DIR/processes.json``, for ``workspace stop`` to check after a SIGKILL.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mlfabric import proctree
from mlfabric.workspaces import processes
from mlfabric.workspaces.jupyter_config import PROCESSES_FILE, jupyter_env

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
STOP_WAIT_S = 5.0  # JupyterLab's own shutdown (kernels included) takes about 2 s
TRACK_EVERY_S = 0.5


class MountError(Exception):
    """A mount link cannot be made."""


def link_mounts(root: Path, links: list[tuple[str, str]]) -> None:
    """Make ``root/PATH`` a symlink to each target (replacing an old link, never a file)."""
    for rel, target in links:
        link = root / rel
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            raise MountError(f"cannot mount {target} at '{rel}': '{rel}' exists in the "
                             "workspace volume and is not a mount link; rename it")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)


def unlink_mounts(root: Path, links: list[tuple[str, str]]) -> None:
    """Remove the mount links (and folders made for them, once empty)."""
    for rel, _ in links:
        link = root / rel
        if link.is_symlink():
            link.unlink()
        parent = link.parent
        while parent != root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork, used after one


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(AttributeError):  # not Linux: no subreaper, no death signal
        _LIBC.prctl(option, value, 0, 0, 0)


def _die_with(parent: int) -> Callable[[], None]:
    def _in_child() -> None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the launcher died before the line above
            os._exit(1)

    return _in_child


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m " + __spec__.name if __spec__ else "launch")
    p.add_argument("--dir", required=True, help="the workspace's private folder")
    p.add_argument("--root-var", required=True, help="variable naming the root volume")
    p.add_argument("--link", action="append", default=[], help="PATH=VAR: a mount link")
    return p.parse_args(argv)


def _resolve(args: argparse.Namespace) -> tuple[Path, list[tuple[str, str]]]:
    def var(name: str) -> str:
        value = os.environ.get(name)
        if not value:
            raise MountError(f"${name} is not set: run this as a workspace job")
        return value

    root = Path(var(args.root_var))
    links = []
    for item in args.link:
        rel, _, name = item.partition("=")
        links.append((rel, var(name)))
    return root, links


class Launcher:
    """Runs JupyterLab and everything it starts until it exits; then cleans up."""

    def __init__(self, ws_dir: Path, root: Path) -> None:
        self.ws_dir = ws_dir
        self.root = root
        self.record = ws_dir / PROCESSES_FILE
        self.child: subprocess.Popen[bytes] | None = None
        self.stop_asked: float | None = None
        self.tracked: list[proctree.Proc] = []

    def on_signal(self, signum: int, _frame: object) -> None:
        if self.stop_asked is None:
            self.stop_asked = time.monotonic()
            if self.child is not None and self.child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.child.pid, signal.SIGTERM)

    def start(self) -> None:
        command = [sys.executable, "-m", "jupyterlab", "--no-browser",
                   f"--ServerApp.root_dir={self.root}"]
        if os.geteuid() == 0:
            command.append("--allow-root")
        self.child = subprocess.Popen(command, env={**os.environ, **jupyter_env(self.ws_dir)},
                                      cwd=self.root, stdin=subprocess.DEVNULL,
                                      process_group=0, preexec_fn=_die_with(os.getpid()))

    def _reap(self) -> int | None:
        """Collect exited children (orphans included); JupyterLab's exit code once it ends."""
        assert self.child is not None
        code = None
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == self.child.pid:
                code = os.waitstatus_to_exitcode(status)
                self.child.returncode = code
        return code

    def _track(self) -> None:
        now = proctree.descendants(os.getpid())
        if now != self.tracked:
            self.tracked = now
            with contextlib.suppress(OSError):
                processes.save(self.record, now)

    def wait(self) -> int:
        """Until JupyterLab exits (forced when it ignores a stop); its exit code."""
        assert self.child is not None
        last_track = 0.0
        while True:
            code = self._reap()
            if code is not None:
                return 128 - code if code < 0 else code
            if time.monotonic() - last_track >= TRACK_EVERY_S:
                self._track()
                last_track = time.monotonic()
            if self.stop_asked is not None and time.monotonic() - self.stop_asked > STOP_WAIT_S:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.child.pid, signal.SIGKILL)
            time.sleep(0.05)

    def clean_up(self) -> None:
        """End what JupyterLab left (kernels, terminals) and forget the record."""
        left = proctree.descendants(os.getpid())
        proctree.end(left, grace_s=1.0)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] != 0:
                pass
        self.record.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Run JupyterLab for one workspace; its exit code."""
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    try:
        root, links = _resolve(args)
        link_mounts(root, links)
    except (MountError, OSError) as exc:
        sys.stderr.write(f"mlfabric: {exc}\n")
        return 1
    launcher = Launcher(Path(args.dir), root)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, launcher.on_signal)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    try:
        if launcher.stop_asked is not None:  # stopped before JupyterLab even started
            return 0
        launcher.start()
        return launcher.wait()
    finally:
        launcher.clean_up()
        unlink_mounts(root, links)


if __name__ == "__main__":
    sys.exit(main())
