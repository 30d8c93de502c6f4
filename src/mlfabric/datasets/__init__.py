"""Datasets as immutable versions in an object-store lake, and caches of them next to
compute. Public API mirroring ``mlfabric dataset ...`` (and ``gc --remote``); the caches
are ``mlfabric.datasets.cache`` (alias ``mlfabric.caches``), the remotes
``mlfabric.remotes``.

Layout of the package, lowest first: ``records`` and ``remote`` (the remote interface and
its transports), ``refs`` (catalog look-ups) and ``fetch`` (objects from a lake into a
content store), then ``lake`` (push, pull, versions, gc) and ``cache`` side by side,
which never import each other; ``delete`` uses both.
"""

from mlfabric.exports import lazy_exports

DEFAULT_WORKERS = 8  # objects moved in parallel between a lake and this machine

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "push": "lake.push", "pull": "lake.pull", "gc": "lake.gc",
    "list": "lake.versions:list_datasets", "versions": "lake.versions",
    "show": "lake.versions", "delete": "delete",
    "plan_push": "lake.push", "PushPlan": "records",
    "Dataset": "records", "DatasetVersion": "records",
    "Deleted": "records", "Pull": "records", "RemoteGcReport": "records",
})
