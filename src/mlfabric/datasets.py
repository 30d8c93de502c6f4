"""Public API for datasets; mirrors ``mlfabric dataset ...`` (and ``gc --remote``)."""

from mlfabric.lake.delete import delete
from mlfabric.lake.gc import gc
from mlfabric.lake.models import Dataset, DatasetVersion, Deleted, Pull, RemoteGcReport
from mlfabric.lake.pull import pull
from mlfabric.lake.push import push
from mlfabric.lake.version import list_datasets as list
from mlfabric.lake.version import show, versions

__all__ = ["Dataset", "DatasetVersion", "Deleted", "Pull", "RemoteGcReport", "delete", "gc",
           "list", "pull", "push", "show", "versions"]
