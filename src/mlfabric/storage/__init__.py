"""Storage engine: object store, volumes, snapshots, clones, restore, gc, verify.

The CLI nouns are ``mlfabric.volumes``, ``mlfabric.snapshots`` and ``mlfabric.store``
(gc and verify of the object store); packages above build the engine of a home with
``storage_of(home)``.
"""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "Storage": "service", "storage_of": "service",
    "ObjectStore": "objects", "Manifest": "manifest",
    "DRIVERS": "drivers", "StorageDriver": "drivers",
    "Volume": "records", "Snapshot": "records", "Usage": "records", "Diff": "records",
    "Restore": "records", "GcReport": "records", "VerifyReport": "records",
    "RestorePlan": "records", "DeletePlan": "records",
})
