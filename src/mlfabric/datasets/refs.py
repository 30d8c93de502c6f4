"""Catalog look-ups shared by the lake and the caches: a dataset version reference
(``DATASET:VERSION``) resolved to its dataset, version and remote rows, and a remote's
lake by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from mlfabric.catalog import named_row, schema
from mlfabric.datasets.remote import RemoteLake, lake_of
from mlfabric.errors import NotFound
from mlfabric.home import Home
from mlfabric.names import LATEST, VersionRef

R, D, V = schema.remotes, schema.datasets, schema.dataset_versions


def remote_row(conn: Connection, name: str) -> Any:
    return named_row(conn, R, name, "remote")


def open_remote(home: Home, name: str) -> RemoteLake:
    """The lake of the remote called ``name``."""
    return lake_of(home.catalog.run_read(lambda c: remote_row(c, name)))

def dataset_row(conn: Connection, name: str) -> Any:
    return named_row(conn, D, name, "dataset")


def version_row(conn: Connection, ds: Any, version: str | None) -> Any:
    """A version row of dataset row ``ds``; the latest when ``version`` is None."""
    q = select(V).where(V.c.dataset_id == ds.id)
    if version is None:
        row = conn.execute(q.order_by(V.c.number.desc()).limit(1)).first()
        if row is None:
            raise NotFound("dataset version", f"{ds.name}:{LATEST}")
        return row
    row = conn.execute(q.where(V.c.version == version)).first()
    if row is None:
        raise NotFound("dataset version", f"{ds.name}:{version}")
    return row


@dataclass(frozen=True)
class Resolved:
    """A version with its dataset and remote rows."""

    dataset: Any
    version: Any
    remote: Any

    @property
    def ref(self) -> str:
        return f"{self.dataset.name}:{self.version.version}"


def resolve(home: Home, ref: VersionRef) -> Resolved:
    """The rows of ``ref`` (the latest version when it names none); ``NotFound``."""
    def _q(conn: Connection) -> Resolved:
        ds = dataset_row(conn, ref.dataset)
        ver = version_row(conn, ds, ref.version)
        rem = conn.execute(select(R).where(R.c.id == ds.remote_id)).first()
        return Resolved(ds, ver, rem)

    return home.catalog.run_read(_q)
