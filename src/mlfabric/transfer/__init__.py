"""Bulk data movement between file systems and object stores (fsspec URLs).

``scan``, ``copy``, ``sync`` and ``verify`` mirror ``mlfabric transfer ...`` one to one.
Locations are local paths, ``file://``, ``memory://``, ``s3://BUCKET/PREFIX`` (with
``endpoint_url`` and fsspec ``options``; credentials from the environment) and
``hdfs://`` through pyarrow when it is installed. ``open_location`` and ``Location`` are
the URL layer other packages build on (the dataset lake among them).
"""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "scan": "scan", "copy": "sync", "sync": "sync", "verify": "verify",
    "DEFAULT_WORKERS": "sync", "DEFAULT_TIMEOUT": "urls", "Location": "urls",
    "open_location": "urls", "parse_options": "urls",
    "FileError": "records", "Mismatch": "records", "ScanResult": "records",
    "SizeBucket": "records", "TransferFailed": "records", "TransferResult": "records",
    "VerifyResult": "records",
})
