"""List a location into plan entries: relative path, size, mtime and version token.

Temporary files of unfinished copies (``.NAME.mlfabric-JOB-RAND.part``) never appear
as entries: they are returned apart so a later run can remove the ones it owns.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import posixpath
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.transfer.plan import Entry
from mlfabric.transfer.urls import Location, translated

_TEMP = re.compile(r"(?:^|/)\.[^/]*\.mlfabric-(?P<job>\d+)-[0-9a-f]{8}\.part$")
# Unique temp names without a random draw per file: a random start, then a counter.
_TEMP_IDS = itertools.count(secrets.randbits(32))
_MTIME_KEYS = ("mtime", "LastModified", "last_modified", "modified", "updated", "created")


@dataclass
class Tree:
    """The files under a location, by relative path."""

    loc: Location
    entries: dict[str, Entry] = field(default_factory=dict)
    temps: list[str] = field(default_factory=list)  # leftovers of interrupted copies
    single_file: bool = False  # the location is one file, listed under its name

    def full_path(self, rel: str) -> str:
        return self.loc.root if self.single_file else self.loc.join(rel)

    @property
    def bytes(self) -> int:
        return sum(e.size for e in self.entries.values())


def temp_path(final: str, job_id: int) -> str:
    """A hidden sibling of ``final`` that names the job writing it."""
    head, name = posixpath.split(final)
    tmp = f".{name[:180]}.mlfabric-{job_id}-{next(_TEMP_IDS) & 0xFFFFFFFF:08x}.part"
    return posixpath.join(head, tmp) if head else tmp


def temp_job(rel: str) -> int | None:
    """The job id a temporary file name carries, or None for an ordinary file."""
    m = _TEMP.search(rel)
    return int(m.group("job")) if m else None


def mtime_of(info: dict[str, Any]) -> float | None:
    """Modification time (epoch seconds) from an fsspec info dict of any backend."""
    for key in _MTIME_KEYS:
        value = info.get(key)
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            return value.timestamp()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def token_of(info: dict[str, Any]) -> str | None:
    """What identifies this version of a file: the ETag where there is one, else mtime."""
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return f"etag:{str(etag).strip(chr(34))}"
    mtime = mtime_of(info)
    return None if mtime is None else f"mtime:{mtime!r}"


def entry_of(rel: str, info: dict[str, Any]) -> Entry:
    return Entry(path=rel, size=int(info.get("size") or 0), mtime=mtime_of(info),
                 token=token_of(info))


def list_tree(loc: Location, *, single_file: bool = False,
              progress: Progress = NO_PROGRESS) -> Tree:
    """Every file under ``loc`` (a missing folder lists empty)."""
    tree = Tree(loc, single_file=single_file)
    if loc.is_local and not single_file:
        with translated(loc):
            _walk_local(loc.root or "/", "", tree, progress)
        return tree
    with translated(loc):
        if single_file:
            info = loc.fs.info(loc.root)
            rel = posixpath.basename(loc.root)
            tree.entries[rel] = entry_of(rel, info)
            progress.advance(1, tree.entries[rel].size)
            return tree
        try:
            found = loc.fs.find(loc.root or "/", detail=True, withdirs=False)
        except FileNotFoundError:
            return tree
    for name, info in found.items():
        if info.get("type", "file") != "file":
            continue
        rel = loc.rel(name)
        if not rel:
            continue
        if temp_job(rel) is not None:
            tree.temps.append(rel)
            continue
        entry = entry_of(rel, info)
        tree.entries[rel] = entry
        progress.advance(1, entry.size)
    return tree


def _walk_local(path: str, prefix: str, tree: Tree, progress: Progress,
                dir_fd: int | None = None) -> None:
    """A local folder with ``os.scandir``: what fsspec's local ``find`` reports (regular
    files; symlinks neither listed nor followed), without its per-entry overhead. Each
    folder is opened once and its files are stat'ed relative to it (no path walk per
    file). Local entries carry no token: a folder keeps exact mtimes, so nothing is
    journaled for it."""
    try:
        fd = os.open(path, _DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    entries = tree.entries
    files = nbytes = 0
    try:
        with os.scandir(fd) as it:
            for d in it:
                rel = prefix + d.name
                if d.is_file(follow_symlinks=False):
                    if ".mlfabric-" in rel and temp_job(rel) is not None:
                        tree.temps.append(rel)
                        continue
                    st = d.stat(follow_symlinks=False)
                    entries[rel] = Entry(rel, st.st_size, st.st_mtime, None, None,
                                         st.st_mtime_ns)
                    files += 1
                    nbytes += st.st_size
                elif d.is_dir(follow_symlinks=False):
                    _walk_local(d.name, rel + "/", tree, progress, fd)
    finally:
        os.close(fd)
    progress.advance(files, nbytes)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
