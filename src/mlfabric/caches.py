"""Public API for cache pools; mirrors ``mlfabric cache ...`` one to one, plus the leases
that jobs and workspaces take on the versions they mount."""

from mlfabric.cache.add import add, prepopulate
from mlfabric.cache.config import configure as config
from mlfabric.cache.config import list_pools as pools
from mlfabric.cache.lease import acquire_lease, release_lease
from mlfabric.cache.listing import list_entries as list
from mlfabric.cache.listing import stats
from mlfabric.cache.models import CacheEntry, CacheStats, Evicted, Lease, Pool, SweepReport
from mlfabric.cache.remove import remove
from mlfabric.cache.sweep import evict

__all__ = ["CacheEntry", "CacheStats", "Evicted", "Lease", "Pool", "SweepReport",
           "acquire_lease", "add", "config", "evict", "list", "pools", "prepopulate",
           "release_lease", "remove", "stats"]
