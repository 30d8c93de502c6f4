"""Caches of dataset versions next to compute: pools with a size budget, leases, TTL and
LRU eviction between watermarks. Public API mirroring ``mlfabric cache ...`` one to one
(alias ``mlfabric.caches``), plus the leases jobs and workspaces take on what they mount.

A pool is a local directory::

    objects/ab/cdef...        content store of the pool (fetched once, verified)
    entries/DATASET/VERSION/  a version's tree, hard links into objects/
    tmp/                      staging of entries being built
    trash/                    entries being deleted (renamed here first)

Two cached versions share the objects they have in common; an object is deleted only
when no remaining entry needs it.
"""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "add": "add", "prepopulate": "add", "plan_add": "add",
    "config": "config:configure", "pools": "config:list_pools",
    "acquire_lease": "lease", "release_lease": "lease",
    "list": "listing:list_entries", "stats": "listing", "remove": "remove",
    "evict": "sweep", "problems": "audit",
    "CacheEntry": "mlfabric.datasets.records", "CacheStats": "mlfabric.datasets.records",
    "CachePlan": "mlfabric.datasets.records", "Evicted": "mlfabric.datasets.records",
    "Lease": "mlfabric.datasets.records", "Pool": "mlfabric.datasets.records",
    "SweepReport": "mlfabric.datasets.records",
})
