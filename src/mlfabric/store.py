"""Public API for store maintenance: ``mlfabric gc`` and ``mlfabric verify``."""

from mlfabric.storage.gc import gc
from mlfabric.storage.records import GcReport, VerifyReport
from mlfabric.storage.verify import verify

__all__ = ["GcReport", "VerifyReport", "gc", "verify"]
