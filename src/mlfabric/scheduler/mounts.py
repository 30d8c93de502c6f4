"""What a job sees besides its command, as one runtime-neutral value.

``acquire`` resolves a job's spec into ``Mounts``: each ``--volume VOL[:PATH]`` as the
volume's folder, each ``--dataset DS:VERSION`` as a cache entry leased for the job, the
job's own variables, and the volume to snapshot when it succeeds. Each runtime realises
a ``Mounts`` its own way (the local runtime: variables and links in the work folder);
``release`` gives the leases back when the run ends, and ``complete`` takes the
snapshot.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlfabric.errors import AlreadyExists, InvalidInput, MlfabricError

# Where no volume may be mounted in a job's sandbox: the system it runs (bound read-only)
# and the kernel's file systems. The host's own paths bound in (the Python environment)
# are checked when the sandbox is made.
RESERVED = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
            "/dev", "/sys")


def env_var(kind: str, name: str) -> str:
    """The variable naming a mounted volume (``VOLUME``) or dataset (``DATASET``)."""
    return f"MLFABRIC_{kind}_{name.upper().replace('-', '_')}"


@dataclass(frozen=True)
class VolumeMount:
    """A volume the job reads and writes: its folder, and where the job wants it."""

    volume: str
    source: str  # the volume's folder
    # where the job wants it: a path relative to its work folder (a link there), an
    # absolute path in its sandbox (mounted there, like docker's -v), or None
    at: str | None = None
    read_only: bool = False  # a link clone: its files are shared objects


@dataclass(frozen=True)
class DatasetMount:
    """A cached dataset version, leased while the job runs."""

    ref: str  # DATASET:VERSION
    dataset: str
    source: str  # the cache entry's folder


@dataclass(frozen=True)
class Mounts:
    """Volumes, datasets, variables and the snapshot-on-success of one run."""

    volumes: tuple[VolumeMount, ...] = ()
    datasets: tuple[DatasetMount, ...] = ()
    env: dict[str, str] = field(default_factory=dict)  # the job's own variables
    snapshot_on_complete: str | None = None
    # Folders of the platform's own state the job reads and writes (a workspace's, an
    # inference server's); set by those services, never by a request.
    state_dirs: tuple[str, ...] = ()
    host_shm: bool = False  # the host's /dev/shm (see sandbox.Grant); services only

    def variables(self) -> dict[str, str]:
        """The job's variables plus one per volume and dataset (their folders)."""
        out = dict(self.env)
        out.update({env_var("VOLUME", v.volume): v.source for v in self.volumes})
        out.update({env_var("DATASET", d.dataset): d.source for d in self.datasets})
        return out

    def links(self) -> dict[str, str]:
        """Path inside the work folder -> folder, for the volumes asked for at a relative
        path."""
        return {v.at: v.source for v in self.volumes if v.at and not v.at.startswith("/")}

    def binds(self) -> tuple[VolumeMount, ...]:
        """The volumes asked for at an absolute path in the sandbox."""
        return tuple(v for v in self.volumes if v.at and v.at.startswith("/"))


def mount_target(item: str) -> tuple[str, str | None]:
    """``VOL[:PATH]`` as (volume, where): PATH relative to the job's work folder, or absolute
    in its sandbox (``out:/results``, as docker's ``-v``); ``InvalidInput`` for a path that
    leaves the work folder, names no place, carries options, or would cover the system."""
    vol, _, path = item.partition(":")
    if not path:
        return vol, None

    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"invalid volume mount path '{path}' in '{item}': {why}",
                            field="volume", value=item)

    if ":" in path:
        raise bad("mount options (':ro') are not supported; a volume is mounted read-write "
                  "(a link clone read-only)")
    if ".." in path.split("/") or not path.strip("/"):
        raise bad("use a path inside the job's working directory (data) or an absolute "
                  "path in the job (/results)")
    if not path.startswith("/"):
        return vol, posixpath.normpath(path)
    at = posixpath.normpath(path)
    if any(at == r or at.startswith(r + "/") for r in RESERVED):
        raise bad(f"{at} is the system's or the sandbox's own; mount at another absolute "
                  "path (/data, /results)")
    return vol, at


def check_targets(items: Sequence[str]) -> list[str]:
    """Each ``VOL[:PATH]`` checked, and no two absolute targets the same or one inside the
    other (which volume would a path show?)."""
    seen: list[tuple[str, str]] = []
    for item in items:
        _, at = mount_target(item)
        if at is None or not at.startswith("/"):
            continue
        for other, prev in seen:
            if at == prev or at.startswith(prev + "/") or prev.startswith(at + "/"):
                raise InvalidInput(f"ambiguous volume mounts '{other}' and '{item}': one "
                                   "path would show two volumes", field="volume", value=item)
        seen.append((item, at))
    return list(items)


def lease_holder(project: str, job: str) -> str:
    return f"job/{project}/{job}"


def acquire(home: str, project: str, job: str, spec: dict[str, Any],
            pool: str | None = None) -> Mounts:
    """Resolve ``spec``'s mounts; dataset versions are cached (if need be) in cache
    ``pool`` (None: the default one) and leased to the job. On failure nothing stays
    leased."""
    from mlfabric import caches, volumes

    vols = []
    for item in spec.get("volumes") or ():
        vol, at = mount_target(str(item))
        shown = volumes.show(vol, home=home)
        vols.append(VolumeMount(vol, shown.path, at, shown.read_only))
    sets: list[DatasetMount] = []
    try:
        for ref in spec.get("datasets") or ():
            lease = caches.acquire_lease(ref, lease_holder(project, job), pool=pool,
                                         home=home)
            sets.append(DatasetMount(ref, lease.dataset, lease.path))
    except BaseException:
        release(home, project, job, spec)
        raise
    return Mounts(tuple(vols), tuple(sets), {str(k): str(v) for k, v in
                                             (spec.get("env") or {}).items()},
                  spec.get("snapshot_on_complete"), tuple(spec.get("state_dirs") or ()),
                  bool(spec.get("host_shm")))


def release(home: str, project: str, job: str, spec: dict[str, Any]) -> None:
    """Give back the job's dataset leases, in whichever pool it holds them (missing ones
    are fine)."""
    if not spec.get("datasets"):
        return
    from mlfabric import caches

    for pool in caches.pools(home=home):
        for ref in spec["datasets"]:
            with contextlib.suppress(MlfabricError):
                caches.release_lease(ref, lease_holder(project, job), pool=pool.name,
                                     home=home)


def complete(home: str, volume: str, project: str, job: str) -> str:
    """Snapshot ``volume`` as ``<project>-<job>`` (``-2``, ``-3``... if taken); its ref."""
    from mlfabric import snapshots

    base = f"{project}-{job}"[:58].rstrip("-")
    for n in range(1, 1000):
        name = base if n == 1 else f"{base}-{n}"
        try:
            return str(snapshots.create(volume, name=name, home=home).ref)
        except AlreadyExists:
            continue
    raise MlfabricError(f"no free snapshot name for job {project}/{job} on volume {volume}")
