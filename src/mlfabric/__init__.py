"""mlfabric: an AI data and workload platform.

Public modules mirror the CLI nouns: ``mlfabric.volumes``, ``mlfabric.snapshots``,
``mlfabric.store`` (gc, verify).
"""

from mlfabric.errors import (
    AlreadyExists,
    Busy,
    CorruptData,
    InvalidInput,
    MlfabricError,
    NotFound,
)

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "Busy",
    "CorruptData",
    "InvalidInput",
    "MlfabricError",
    "NotFound",
    "__version__",
]
