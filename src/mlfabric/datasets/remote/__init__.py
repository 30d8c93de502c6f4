"""Remotes: where dataset versions live (a local folder, ``s3://``, ``memory://``), each
reached through a transport chosen by the URL's protocol from ``TRANSPORTS`` (the shared
registry shape). A new transport registers there and proves itself with
``mlfabric.testing.remotes.RemoteConformance``."""

from __future__ import annotations

from typing import Any

from mlfabric.datasets.remote.base import (
    DATASETS,
    MANIFESTS,
    OBJECTS,
    PENDING,
    RemoteLake,
    Stored,
    object_key,
    oid_of_key,
    version_key,
)
from mlfabric.registry import Registry
from mlfabric.transfer import Location

# A protocol without an entry of its own goes through fsspec.
FALLBACK = "fsspec"
TRANSPORTS: Registry[RemoteLake] = Registry("remote transport", {
    "file": "mlfabric.datasets.remote.folder:FolderLake",
    FALLBACK: "mlfabric.datasets.remote.fs:FsspecLake",
}, field="url")


def open_lake(loc: Location, name: str) -> RemoteLake:
    """The lake at ``loc`` through the transport registered for its protocol."""
    transport = loc.protocol if loc.protocol in TRANSPORTS else FALLBACK
    return TRANSPORTS.load(transport)(loc, name)


def lake_of(row: Any) -> RemoteLake:
    """The lake a remote's catalog row points at (no request is made yet)."""
    from mlfabric.transfer.urls import open_location

    loc = open_location(row.url, endpoint_url=row.endpoint_url, options=row.options or {},
                        timeout=row.timeout)
    return open_lake(loc, row.name)


__all__ = ["DATASETS", "FALLBACK", "MANIFESTS", "OBJECTS", "PENDING", "TRANSPORTS",
           "RemoteLake", "Stored", "lake_of", "object_key", "oid_of_key", "open_lake",
           "version_key"]
