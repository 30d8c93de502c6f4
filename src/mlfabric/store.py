"""Public API for the object store's upkeep: ``mlfabric gc`` and ``mlfabric verify``."""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, base="mlfabric.storage", exports={
    "gc": "gc", "verify": "verify", "problems": "audit:store_problems",
    "GcReport": "records", "VerifyReport": "records",
})
