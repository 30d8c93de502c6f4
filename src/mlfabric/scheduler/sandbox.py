"""Confinement of members' code: the one policy of what a job's processes may see, and
the one mechanism that enforces it (bubblewrap, Linux namespaces).

A sandbox sees: the system's programs and libraries read-only (``/usr``, a few files of
``/etc``, the Python environment mlfabric runs from), a private ``/tmp`` and
``/dev/shm``, a private ``/proc`` of its own processes, the folders its job was granted
(its volumes and its working folder read-write, link clones and dataset cache entries
read-only, enforced by the mount, so even root inside could not write a shared object),
and GPU device nodes when its node has GPUs. It does not see ``$MLFABRIC_HOME``, the
catalog, other volumes, other jobs' processes or ``/root``. Its processes run as the
project's own unprivileged uid, with no capabilities and ``no_new_privs`` (set-uid
programs do not raise them). The network is shared: jobs reach datasets and serve
models, and the ranks of a gang talk over loopback.

On a server (the scheduler runs as root) bubblewrap mounts what root can read, then
``setpriv`` drops to the project's uid before the member's command starts. On a laptop
(the scheduler runs as its user) bubblewrap makes a user namespace and the job runs as
that user, still seeing only what it was granted. When the host cannot create
namespaces, jobs are refused; ``MLFABRIC_UNSAFE_NO_SANDBOX=1`` (for a single-user machine
that cannot have them) runs them unconfined.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mlfabric.catalog.scheduler_schema import PROJECT_UID_BASE as UID_BASE
from mlfabric.errors import MlfabricError
from mlfabric.storage.fsops import own_tree

UNSAFE_ENV = "MLFABRIC_UNSAFE_NO_SANDBOX"
# /etc files a process may need (dynamic linker, certificates, names, time zone); never
# shadow, sudoers, ssh keys or the host's configuration.
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ssl", "ca-certificates",
       "ca-certificates.conf", "alternatives", "localtime", "timezone", "hosts",
       "resolv.conf", "nsswitch.conf", "host.conf", "passwd", "group", "mime.types",
       "protocols", "services")
DEVICES = ("/dev/nvidia*", "/dev/nvidia-caps", "/dev/dri")
# Variables of the host a sandbox keeps; everything else (credentials, tokens, the home)
# stays outside.
KEPT_ENV = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TERM",
            "PYTHONHASHSEED", "PYTHONUNBUFFERED", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES")


class SandboxUnavailable(MlfabricError):
    """This host cannot confine members' code (no bubblewrap, or no namespaces)."""


@dataclass(frozen=True)
class Grant:
    """What one sandbox may see and be: paths are bound at their own path inside."""

    uid: int
    gid: int
    workdir: str
    rw: tuple[str, ...] = ()  # folders it reads and writes
    ro: tuple[str, ...] = ()  # folders and files it only reads
    gpus: bool = False  # pass the GPU device nodes through
    # The host's /dev/shm instead of a private one (docker's --ipc=host): an inference
    # server whose clients pass tensors in system shared memory; set by services only.
    host_shm: bool = False
    env: dict[str, str] = field(default_factory=dict)  # its variables (nothing else)
    # folders bound at another path inside: (folder, path inside, read-only)
    at: tuple[tuple[str, str, bool], ...] = ()


def system_paths() -> list[str]:
    """Read-only for every sandbox: programs, libraries, the Python environment (the
    interpreter, its packages, and mlfabric's own source for an editable install)."""
    import mlfabric

    source = os.path.dirname(os.path.dirname(os.path.abspath(mlfabric.__file__)))
    paths = ["/usr", *(f"/etc/{name}" for name in ETC), sys.base_prefix, sys.prefix, source]
    seen: list[str] = []
    for p in map(os.path.realpath, paths):
        if os.path.exists(p) and not any(p == s or p.startswith(s + "/") for s in seen):
            seen = [s for s in seen if not s.startswith(p + "/")] + [p]
    return sorted(seen)


def _binds(flag: str, paths: Iterable[str]) -> list[str]:
    out: list[str] = []
    for p in paths:
        out += [flag, p, p]
    return out


def _parents(paths: Iterable[str]) -> list[str]:
    bound = set(paths)
    made: set[str] = set()
    out: list[str] = []
    for path in sorted(bound):
        parts = path.strip("/").split("/")[:-1]
        for n in range(1, len(parts) + 1):
            parent = "/" + "/".join(parts[:n])
            if parent not in made and parent not in bound and parent not in ("/tmp", "/dev"):
                made.add(parent)
                out += ["--perms", "0755", "--dir", parent]
    return out


def wrap(grant: Grant, argv: Sequence[str], *, as_root: bool | None = None,
         info_fd: int | None = None) -> list[str]:
    """The command line that runs ``argv`` confined to ``grant`` (pure but for the host's
    paths it binds); ``as_root``: whether the scheduler runs as root (default: it asks);
    ``info_fd``: where bubblewrap writes the host pid of the sandbox's first process
    (see ``read_info``)."""
    # No --die-with-parent: a job outlives the command that started it (the scheduler finds
    # it again by pid); no --new-session: the job's process group is bwrap's, so stopping
    # the group reaches every process inside.
    root = os.geteuid() == 0 if as_root is None else as_root
    cmd = ["bwrap", *([] if root else ["--unshare-user"]),
           "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
           *([] if info_fd is None else ["--info-fd", str(info_fd)]),
           "--hostname", "sandbox", "--clearenv",
           "--proc", "/proc", "--dev", "/dev",  # private /tmp and /dev/shm, sticky as usual
           "--perms", "1777", "--tmpfs", "/tmp",
           *(["--bind", "/dev/shm", "/dev/shm"] if grant.host_shm else
             ["--perms", "1777", "--tmpfs", "/dev/shm"])]
    for name in ("bin", "sbin", "lib", "lib64"):  # merged /usr: the usual top-level links
        if os.path.islink(f"/{name}"):
            cmd += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
    system = system_paths()
    targets = [inside for _, inside, _ in grant.at]
    _check_targets(targets, [*system, *grant.ro, *grant.rw, grant.workdir])
    # The folders above what is bound are made here, traversable: bubblewrap would copy
    # the host's modes (a 0700 /root would hide the Python bound below it).
    cmd += _parents([*system, *grant.ro, *grant.rw, grant.workdir, *targets])
    cmd += _binds("--ro-bind", system)
    cmd += _binds("--ro-bind", grant.ro)
    cmd += _binds("--bind", grant.rw)
    for folder, inside, read_only in grant.at:
        cmd += ["--ro-bind" if read_only else "--bind", folder, inside]
    if grant.gpus:
        for pattern in DEVICES:
            cmd += _binds("--dev-bind", sorted(glob.glob(pattern)))
    env = {k: v for k, v in os.environ.items() if k in KEPT_ENV}
    env.update({"HOME": grant.workdir, "TMPDIR": "/tmp"}, **grant.env)
    for k, v in sorted(env.items()):
        cmd += ["--setenv", k, v]
    cmd += ["--chdir", grant.workdir]
    if not root:  # bubblewrap drops every capability and sets no_new_privs itself
        return [*cmd, "--", *argv]
    # Only these two capabilities survive into the sandbox, for setpriv to drop to the
    # project's uid; after it the process has none, and no_new_privs for good.
    return [*cmd, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
            *_drop(grant), *argv]


def _check_targets(targets: Iterable[str], bound: Iterable[str]) -> None:
    """A folder bound at another path must not cover, or sit inside, what the sandbox
    already binds (the system, the Python environment, its own folders)."""
    bound = list(bound)
    for inside in targets:
        for path in bound:
            if inside == path or inside.startswith(path + "/") or path.startswith(inside + "/"):
                raise MlfabricError(f"cannot mount a volume at {inside}: the sandbox has "
                                    f"{path} there; choose another absolute path")


def read_info(fd: int, timeout_s: float = 10.0) -> int | None:
    """The host pid of the sandbox's first process (its pid 1: the namespace ends with it),
    read from the ``info_fd`` of ``wrap`` until bubblewrap closes it; None if it failed
    before making the sandbox. Closes ``fd``."""
    data = b""
    deadline = time.monotonic() + timeout_s
    try:
        while (left := deadline - time.monotonic()) > 0 and select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    try:
        return int(json.loads(data)["child-pid"])
    except (ValueError, KeyError, TypeError):
        return None


def _drop(grant: Grant) -> list[str]:
    return ["setpriv", f"--reuid={grant.uid}", f"--regid={grant.gid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]


def enter(pid: int, grant: Grant, argv: Sequence[str], *,
          as_root: bool | None = None) -> list[str]:
    """The command line that runs ``argv`` inside the running sandbox of ``pid`` (its
    mounts, processes and name), as its project's uid, in its working folder."""
    # env -C changes folder inside (nsenter's --wd would open it on the host side)
    env = ["env", "-i", "-C", grant.workdir, *(f"{k}={v}" for k, v in sorted(
        {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": grant.workdir,
         "TMPDIR": "/tmp", **grant.env}.items()))]
    if not (os.geteuid() == 0 if as_root is None else as_root):
        # the sandbox's user namespace is the caller's to enter
        return ["nsenter", f"--target={pid}", "--user", "--preserve-credentials", "--mount",
                "--pid", "--ipc", "--uts", "--", *env, *argv]
    return ["nsenter", f"--target={pid}", "--mount", "--pid", "--ipc", "--uts", "--",
            *_drop(grant), *env, *argv]


def unsafe() -> bool:
    """Whether an admin chose to run members' code unconfined (single-user machines)."""
    return os.environ.get(UNSAFE_ENV, "").strip().lower() in ("1", "yes", "true")


@functools.cache
def _probe() -> str | None:
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian: apt-get install bubblewrap)"
    if shutil.which("setpriv") is None or shutil.which("nsenter") is None:
        return "setpriv and nsenter are missing (Debian: util-linux)"
    grant = Grant(uid=UID_BASE, gid=UID_BASE, workdir="/tmp")
    try:
        done = subprocess.run(wrap(grant, ["true"]), capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}"
    if done.returncode != 0:
        return f"bubblewrap cannot create namespaces here: {done.stderr.strip()[:200]}"
    return None


def check() -> None:
    """Raise ``SandboxUnavailable`` when members' code cannot be confined here (and the
    admin has not opted out with ``MLFABRIC_UNSAFE_NO_SANDBOX=1``)."""
    if unsafe():
        return
    reason = _probe()
    if reason is not None:
        raise SandboxUnavailable(f"cannot confine members' jobs: {reason}; on a single-user "
                                 f"machine {UNSAFE_ENV}=1 runs them unconfined")


def own(path: str, uid: int, gid: int) -> None:
    """Make ``path`` and everything below it belong to ``uid``:``gid`` (what a project's
    jobs write): entries put there by the platform (a restore, a pull) become theirs."""
    own_tree(path, uid, gid)
