"""A network file system over loopback for the shared-storage configuration: the data
set's folder served over SFTP by ``rclone serve sftp`` on 127.0.0.1 and mounted with FUSE
by ``rclone mount`` (no rclone cache), so every read crosses a TCP connection and a
user-space file system, as reads from an NFS filer do. (This machine's kernel has no NFS
client or server; FUSE works.)"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from mlfabric import proctree
from mlfabric.errors import MlfabricError

STORAGE = "fuse-sftp"
WAIT_S = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s, contextlib.suppress(OSError):
        s.settimeout(0.2)
        s.connect(("127.0.0.1", port))
        return True
    return False


def _wait(check, what: str, proc: subprocess.Popen, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
            raise MlfabricError(f"{what} did not come up: {tail.strip() or 'no output'}")
        time.sleep(0.05)


def check_tools() -> str:
    rclone = shutil.which("rclone")
    if rclone is None or not (shutil.which("fusermount3") or shutil.which("fusermount")) \
            or not os.path.exists("/dev/fuse"):
        raise MlfabricError("the network storage configuration needs rclone, fuse3 and "
                            "/dev/fuse (Debian: apt-get install rclone fuse3)")
    return rclone


def _stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    started = proctree.start_time(proc.pid) if proc.poll() is None else None
    if started is not None:
        proctree.end([(proc.pid, started)], grace_s=10.0)
    proc.wait()


@contextlib.contextmanager
def sftp_mount(folder: str | os.PathLike[str]) -> Iterator[str]:
    """Mount ``folder`` read-only through SFTP on loopback; yields the mount point.
    Unmounts and stops both rclone processes on the way out."""
    rclone = check_tools()
    work = Path(tempfile.mkdtemp(prefix="edgebench-nfs-"))
    mnt = work / "mnt"
    mnt.mkdir()
    port, password = _free_port(), secrets.token_urlsafe(16)
    env = {**os.environ, "RCLONE_CONFIG": str(work / "rclone.conf")}
    common = ["--cache-dir", str(work / "cache"), "--log-file"]
    serve = subprocess.Popen([rclone, "serve", "sftp", str(folder), "--addr",
                              f"127.0.0.1:{port}", "--user", "edgebench", "--pass", password,
                              "--read-only", *common, str(work / "serve.log")], env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    mount = None
    try:
        _wait(lambda: _listening(port), "rclone serve sftp", serve, work / "serve.log")
        obscured = subprocess.run([rclone, "obscure", password], env=env, text=True,
                                  capture_output=True, check=True).stdout.strip()
        remote = f":sftp,host=127.0.0.1,port={port},user=edgebench,pass={obscured}:"
        mount = subprocess.Popen([rclone, "mount", remote, str(mnt), "--read-only",
                                  "--vfs-cache-mode", "off", *common, str(work / "mount.log")],
                                 env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        _wait(lambda: os.path.ismount(mnt), "rclone mount", mount, work / "mount.log")
        yield str(mnt)
    finally:
        if mount is not None:
            _stop(mount)
            if os.path.ismount(mnt):
                subprocess.run([shutil.which("fusermount3") or "fusermount", "-u", str(mnt)],
                               check=False, capture_output=True)
        _stop(serve)
        shutil.rmtree(work, ignore_errors=True)
