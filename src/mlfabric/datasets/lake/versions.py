"""Dataset versions: version documents in the lake, and ``dataset list|versions|show``.

Version ids are ``v1``, ``v2``, ... per dataset: short, ordered, and what users type. The
next number is one past the highest the catalog or the lake knows, and the version
document is created exclusively (``If-None-Match: *`` on S3, ``link`` on a folder), so
two homes pushing to one lake at once never overwrite each other's version.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from sqlalchemy import Connection, func, select

from mlfabric.catalog import schema
from mlfabric.datasets.records import Dataset, DatasetVersion
from mlfabric.datasets.refs import dataset_row, open_remote, remote_row, version_row
from mlfabric.datasets.remote import DATASETS, RemoteLake
from mlfabric.errors import CorruptData, InvalidInput
from mlfabric.home import Home, open_home
from mlfabric.names import VERSION, parse_version_ref, validate_name, version_number

R, D, V = schema.remotes, schema.datasets, schema.dataset_versions
P, E = schema.dataset_pulls, schema.cache_entries
FORMAT = 1
_MAX_LINEAGE = 32


# -- version documents in the lake ---------------------------------------------------
def version_doc(dataset: str, version: str, *, manifest_oid: str, source: str | None,
                created_at: float, files: int, nbytes: int, objects: int) -> bytes:
    stamp = dt.datetime.fromtimestamp(created_at, dt.UTC).isoformat().replace("+00:00", "Z")
    doc = {"format": FORMAT, "dataset": dataset, "version": version, "manifest": manifest_oid,
           "source": source, "created_at": stamp, "files": files, "bytes": nbytes,
           "objects": objects}
    return (json.dumps(doc, indent=1) + "\n").encode()


def read_version_doc(data: bytes, where: str) -> dict[str, Any]:
    """A parsed version document; ``CorruptData`` naming ``where`` when unreadable."""
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            raise ValueError(f"unsupported format {doc.get('format')}")
        created = dt.datetime.fromisoformat(str(doc["created_at"]).replace("Z", "+00:00"))
        return {"dataset": validate_name(str(doc["dataset"]), "dataset name"),
                "version": str(doc["version"]), "number": version_number(str(doc["version"])),
                "manifest": str(doc["manifest"]), "source": doc.get("source"),
                "created_at": created.timestamp(), "files": int(doc["files"]),
                "bytes": int(doc["bytes"]), "objects": int(doc["objects"])}
    except (ValueError, KeyError, TypeError, InvalidInput) as exc:
        raise CorruptData(f"version document {where} is unreadable: {exc}") from exc


def remote_versions(rstore: RemoteLake, dataset: str | None = None) -> dict[tuple[str, str],
                                                                                  str]:
    """(dataset, version) -> key of every version document in the lake (one listing)."""
    prefix = DATASETS if dataset is None else f"{DATASETS}/{dataset}"
    out = {}
    for s in rstore.list(prefix):
        parts = s.key.split("/")
        if len(parts) == 3 and parts[2].endswith(".json") and VERSION.match(parts[2][:-5]):
            out[(parts[1], parts[2][:-5])] = s.key
    return out


def to_version(dataset: str, remote: str, row: Any, **extra: Any) -> DatasetVersion:
    source = (f"{row.source_volume}@{row.source_snapshot}"
              if row.source_volume and row.source_snapshot else None)
    return DatasetVersion(dataset=dataset, version=row.version, remote=remote,
                          manifest_oid=row.manifest_oid, source=source,
                          created_at=row.created_at, files=row.files, bytes=row.bytes,
                          objects=row.objects, **extra)


# -- list, versions, show ------------------------------------------------------------
def list_datasets(*, remote: str | None = None, home: str | None = None) -> list[Dataset]:
    """Datasets in the catalog; with ``remote``, first import what that lake holds that
    the catalog does not (versions pushed from another home) and forget what it lost."""
    st = open_home(home)
    if remote is not None:
        validate_name(remote, "remote name")
        refresh(st, remote)

    def _q(conn: Connection) -> list[Dataset]:
        q = (select(D.c.id, D.c.name, D.c.created_at, R.c.name.label("remote"))
             .join(R, R.c.id == D.c.remote_id).order_by(D.c.name))
        if remote is not None:
            q = q.where(R.c.name == remote)
        out = []
        for r in conn.execute(q).all():
            n, top = conn.execute(select(func.count(), func.max(V.c.number))
                                  .where(V.c.dataset_id == r.id)).one()
            out.append(Dataset(name=r.name, remote=r.remote, created_at=r.created_at,
                               versions=n, latest=f"v{top}" if top else None))
        return out

    return st.catalog.run_read(_q)


def versions(dataset: str, *, home: str | None = None) -> list[DatasetVersion]:
    """A dataset's versions, oldest first, each with its source snapshot."""
    validate_name(dataset, "dataset name")
    st = open_home(home)

    def _q(conn: Connection) -> list[DatasetVersion]:
        ds = dataset_row(conn, dataset)
        rem = conn.execute(select(R.c.name).where(R.c.id == ds.remote_id)).scalar_one()
        rows = conn.execute(select(V).where(V.c.dataset_id == ds.id).order_by(V.c.number))
        return [to_version(dataset, rem, r) for r in rows]

    return st.catalog.run_read(_q)


def _upstream(conn: Connection, volume: str | None, snapshot: str | None) -> list[str]:
    """``volume:A``, ``snapshot:A@S``, ... back through clones, oldest first."""
    chain: list[str] = []
    vt = schema.volumes
    while volume and snapshot and len(chain) < _MAX_LINEAGE:
        chain[:0] = [f"volume:{volume}", f"snapshot:{volume}@{snapshot}"]
        row = conn.execute(select(vt.c.origin_volume, vt.c.origin_snapshot)
                           .where(vt.c.name == volume)).first()
        volume, snapshot = (row.origin_volume, row.origin_snapshot) if row else (None, None)
    return chain


def show(ref: str, *, home: str | None = None) -> DatasetVersion:
    """One version (``DATASET:VERSION``, or the latest) with its lineage: the volume and
    snapshot it came from, the volumes pulled from it and the pools caching it."""
    r = parse_version_ref(ref)
    st = open_home(home)

    def _q(conn: Connection) -> DatasetVersion:
        ds = dataset_row(conn, r.dataset)
        row = version_row(conn, ds, r.version)
        rem = conn.execute(select(R.c.name).where(R.c.id == ds.remote_id)).scalar_one()
        lineage = _upstream(conn, row.source_volume, row.source_snapshot)
        lineage.append(f"dataset:{ds.name}:{row.version}")
        pulls = [p.volume for p in conn.execute(
            select(P.c.volume).where(P.c.dataset == ds.name, P.c.version == row.version)
            .order_by(P.c.pulled_at))]
        pools = [p.name for p in conn.execute(
            select(schema.cache_pools.c.name).join(E, E.c.pool_id == schema.cache_pools.c.id)
            .where(E.c.dataset == ds.name, E.c.version == row.version)
            .order_by(schema.cache_pools.c.name))]
        return to_version(ds.name, rem, row, lineage=lineage, pulled_into=pulls,
                          cached_in=pools, uploaded_objects=row.uploaded_objects,
                          uploaded_bytes=row.uploaded_bytes)

    return st.catalog.run_read(_q)


# -- importing what a lake holds -----------------------------------------------------
def refresh(st: Home, remote: str) -> None:
    """Mirror the lake's version documents into the catalog for datasets of ``remote``."""
    rstore = open_remote(st, remote)
    rstore.check()
    found = remote_versions(rstore)
    rem = st.catalog.run_read(lambda c: remote_row(c, remote))

    def _known(conn: Connection) -> dict[tuple[str, str], Any]:
        rows = conn.execute(select(D.c.name, D.c.remote_id, V.c.version, V.c.id)
                            .join(V, V.c.dataset_id == D.c.id)).all()
        return {(r.name, r.version): r for r in rows}

    known = st.catalog.run_read(_known)
    new_docs = []
    for key, path in sorted(found.items()):
        if key in known:
            continue
        data = rstore.read(path)
        if data is not None:
            new_docs.append(read_version_doc(data, rstore.display(path)))
    lost = [r.id for key, r in known.items() if r.remote_id == rem.id and key not in found]

    def _apply(conn: Connection) -> None:
        if lost:
            conn.execute(V.delete().where(V.c.id.in_(lost)))
        for doc in new_docs:
            ds = conn.execute(select(D).where(D.c.name == doc["dataset"])).first()
            if ds is None:
                conn.execute(D.insert().values(name=doc["dataset"], remote_id=rem.id,
                                               created_at=time.time()))
                ds = dataset_row(conn, doc["dataset"])
            elif ds.remote_id != rem.id:
                continue  # the name belongs to a dataset of another remote here
            if conn.execute(select(V.c.id).where(V.c.dataset_id == ds.id,
                                                 V.c.version == doc["version"])).first():
                continue
            vol, _, snap = str(doc["source"] or "").partition("@")
            conn.execute(V.insert().values(
                dataset_id=ds.id, version=doc["version"], number=doc["number"],
                manifest_oid=doc["manifest"], source_volume=vol or None,
                source_snapshot=snap or None, created_at=doc["created_at"],
                files=doc["files"], bytes=doc["bytes"], objects=doc["objects"]))
        empty = [d.id for d in conn.execute(select(D.c.id).where(D.c.remote_id == rem.id))
                 if not conn.execute(select(V.c.id).where(V.c.dataset_id == d.id)).first()]
        if empty:
            conn.execute(D.delete().where(D.c.id.in_(empty)))

    st.catalog.run_write(_apply)

