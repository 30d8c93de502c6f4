"""``gc --remote R``: remove lake objects and manifests that no version references.

The lake is the truth, not this home's catalog: roots are every version document under
``datasets/`` (pushed from any home) and every fresh ``pending/`` marker of a push in
progress. Objects are listed before roots are read, and nothing younger than the grace
period is removed, so a push running alongside keeps what it uploads. A version whose
manifest cannot be read stops the sweep: nothing it may need is removed.
"""

from __future__ import annotations

import contextlib
import json
import time

from mlfabric.datasets.fetch import load_manifest
from mlfabric.datasets.lake.versions import read_version_doc, remote_versions
from mlfabric.datasets.records import RemoteGcReport
from mlfabric.datasets.refs import open_remote
from mlfabric.datasets.remote import MANIFESTS, PENDING, RemoteLake
from mlfabric.errors import CorruptData
from mlfabric.home import open_home
from mlfabric.names import validate_name
from mlfabric.progress import NO_PROGRESS, Progress
from mlfabric.storage.service import storage_of
from mlfabric.units import parse_duration

DEFAULT_GRACE = "1h"
# A push marker older than this belongs to a push that died; it no longer protects.
PENDING_TTL_S = 86400.0


def _roots(rstore: RemoteLake, now: float) -> tuple[set[str], list[str], int]:
    """(manifest ids to keep, stale marker keys, versions)."""
    roots: set[str] = set()
    versions = remote_versions(rstore)
    for key in sorted(versions.values()):
        data = rstore.read(key)
        if data is None:
            continue  # deleted since the listing
        roots.add(read_version_doc(data, rstore.display(key))["manifest"])
    stale = []
    for s in rstore.list(PENDING):
        if s.mtime is not None and now - s.mtime > PENDING_TTL_S:
            stale.append(s.key)
            continue
        with contextlib.suppress(ValueError, KeyError, TypeError):
            data = rstore.read(s.key)
            if data is not None:
                roots.add(str(json.loads(data)["manifest"]))
    return roots, stale, len(versions)


def gc(remote: str, *, dry_run: bool = False, grace: str | float = DEFAULT_GRACE,
       home: str | None = None, progress: Progress = NO_PROGRESS) -> RemoteGcReport:
    """Remove objects of ``remote``'s lake that no version needs, older than ``grace``."""
    validate_name(remote, "remote name")
    grace_s = parse_duration(grace)
    st = storage_of(open_home(home))
    rstore = open_remote(st.home, remote)
    rstore.check()
    now = time.time()
    cutoff = now - grace_s
    progress.start(f"listing remote '{remote}'")
    objects = rstore.list_objects()
    manifests = rstore.list_objects(MANIFESTS)
    temps = rstore.leftovers() + rstore.leftovers(MANIFESTS)
    roots, stale, n_versions = _roots(rstore, now)
    progress.finish()
    marked: set[str] = set()
    for oid in sorted(roots):
        try:
            marked |= load_manifest(rstore, st.objects, oid, f"manifest {oid}",
                                    keep=False).object_ids()
        except CorruptData as exc:
            raise CorruptData(f"gc of remote '{remote}' stopped, nothing removed: {exc}",
                              objects=[oid]) from exc

    def old(mtime: float | None) -> bool:
        return mtime is not None and mtime < cutoff

    dead_objects = {oid: s for oid, s in objects.items() if oid not in marked}
    doomed = [s for s in dead_objects.values() if old(s.mtime)]
    dead_manifests = [s for oid, s in manifests.items() if oid not in roots and old(s.mtime)]
    dead_temps = [s for s in temps if old(s.mtime)]
    if not dry_run:
        progress.start(f"removing {len(doomed)} objects", None)
        rstore.delete(s.key for s in doomed + dead_manifests + dead_temps)
        rstore.delete(stale)
        progress.finish()
    return RemoteGcReport(
        remote=remote, dry_run=dry_run, versions=n_versions, objects_total=len(objects),
        objects_reachable=len(marked & set(objects)), objects_removed=len(doomed),
        bytes_removed=sum(s.size for s in doomed), manifests_removed=len(dead_manifests),
        kept_in_grace=len(dead_objects) - len(doomed), leftovers_removed=len(dead_temps))
