"""Bring objects and manifests from a lake into a local content store (the home's store
for ``dataset pull``, a cache pool's for ``cache add``), verified on the way in."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from mlfabric.datasets.remote import MANIFESTS, RemoteLake, object_key
from mlfabric.durable import syncfs
from mlfabric.errors import CorruptData, InvalidInput, MlfabricError
from mlfabric.oids import oid_of
from mlfabric.progress import Progress
from mlfabric.storage.manifest import Manifest
from mlfabric.storage.objects import OBJECT_MODE, ObjectStore
from mlfabric.transfer.copier import LockedProgress
from mlfabric.transfer.parallel import MAX_WORKERS, run_parallel


def check_workers(workers: int) -> None:
    if not 1 <= workers <= MAX_WORKERS:
        raise InvalidInput(f"invalid workers {workers}: expected 1 to {MAX_WORKERS}",
                           field="workers")


def adopt(store: ObjectStore, tmp: Path, oid: str) -> None:
    """Move a verified temp file into ``store`` as ``oid``, with the store's invariants
    (read-only, mtime 0: see ``mlfabric.storage.objects``). Not fsynced one by one: the
    caller flushes the file system once before anything refers to the objects."""
    dest = store.path(oid)
    if dest.exists():
        st = dest.stat()
        if st.st_mtime_ns == 0 and st.st_size == tmp.stat().st_size:
            tmp.unlink()
            return
        store.quarantine(oid)  # visibly altered: never serve it again
    os.chmod(tmp, OBJECT_MODE)
    os.utime(tmp, ns=(0, 0))
    dest.parent.mkdir(exist_ok=True)
    os.rename(tmp, dest)


def _tmp_name(store: ObjectStore) -> Path:
    store.ensure()
    return store.tmp / f"fetch-{os.getpid()}-{time.monotonic_ns()}-{os.urandom(4).hex()}"


def fetch_one(rstore: RemoteLake, store: ObjectStore, oid: str, size: int,
              progress: Progress) -> None:
    tmp = _tmp_name(store)
    try:
        with open(tmp, "xb", buffering=0) as out:
            rstore.get_object(oid, size, out, on_bytes=lambda k: progress.advance(0, k))
        adopt(store, tmp, oid)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    progress.advance(1, 0)


def fetch_objects(rstore: RemoteLake, store: ObjectStore, wanted: dict[str, int], *,
                  workers: int, progress: Progress, what: str = "fetching",
                  durable: bool = True) -> tuple[int, int]:
    """Fetch the objects of ``wanted`` (oid -> size) that ``store`` lacks, in parallel;
    returns (objects, bytes) fetched. Fails naming the first error after every worker
    finished, so no download is left half-written. ``durable``: flush the file system
    once at the end (else the caller answers for crash safety)."""
    missing = {oid: size for oid, size in wanted.items() if not store.looks_intact(oid, size)}
    if not missing:
        return 0, 0
    progress = LockedProgress(progress)
    progress.start(f"{what} {len(missing)} objects", sum(missing.values()))
    errors: list[BaseException] = []
    done = nbytes = 0
    try:
        for out in run_parallel(lambda item: fetch_one(rstore, store, item[0], item[1],
                                                       progress),
                                sorted(missing.items()), workers):
            if out.error is not None:
                if not isinstance(out.error, Exception):
                    raise out.error
                errors.append(out.error)
            else:
                done += 1
                nbytes += out.item[1]
    finally:
        progress.finish()
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        if isinstance(first, MlfabricError) and len(errors) == 1:
            raise first
        msg = first.message if isinstance(first, MlfabricError) else (
            f"{type(first).__name__}: {first}")
        raise MlfabricError(f"fetching from remote '{rstore.name}' failed for {len(errors)} "
                            f"object(s): {msg}{more}") from first
    if durable:
        syncfs(store.root)
    return done, nbytes


def load_manifest(rstore: RemoteLake, store: ObjectStore, oid: str, what: str, *,
                  keep: bool = True) -> Manifest:
    """The manifest ``oid``: from ``store`` when there, else from the lake (verified, and
    kept in ``store`` with ``keep``)."""
    if store.exists(oid):
        with contextlib.suppress(CorruptData):
            return Manifest.from_bytes(store.read_bytes(oid), name=f"manifest of {what}")
        store.quarantine(oid)
    data = rstore.read(object_key(oid, MANIFESTS))
    if data is None:
        raise CorruptData(f"remote '{rstore.name}': the manifest of {what} is missing "
                          f"({rstore.display(object_key(oid, MANIFESTS))})", objects=[oid])
    if oid_of(data) != oid:
        raise CorruptData(f"remote '{rstore.name}': the manifest of {what} is damaged",
                          objects=[oid])
    manifest = Manifest.from_bytes(data, name=f"manifest of {what}")
    if keep:
        store.put_bytes(data)
    return manifest
