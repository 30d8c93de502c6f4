"""Bulk data movement between file systems and object stores (fsspec URLs).

``scan``, ``copy``, ``sync`` and ``verify`` mirror ``mlfabric transfer ...`` one to one.
Locations are local paths, ``file://``, ``memory://``, ``s3://BUCKET/PREFIX`` (with
``endpoint_url`` and fsspec ``options``; credentials from the environment) and
``hdfs://`` through pyarrow when it is installed.
"""

from mlfabric.transfer.models import (
    FileError,
    Mismatch,
    ScanResult,
    SizeBucket,
    TransferFailed,
    TransferResult,
    VerifyResult,
)
from mlfabric.transfer.scan import scan
from mlfabric.transfer.sync import DEFAULT_WORKERS, copy, sync
from mlfabric.transfer.urls import DEFAULT_TIMEOUT
from mlfabric.transfer.verify import verify

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_WORKERS",
    "FileError",
    "Mismatch",
    "ScanResult",
    "SizeBucket",
    "TransferFailed",
    "TransferResult",
    "VerifyResult",
    "copy",
    "scan",
    "sync",
    "verify",
]
