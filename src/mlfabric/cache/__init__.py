"""Caches of dataset versions next to compute: pools with a size budget, leases, TTL and
LRU eviction between watermarks.

A pool is a local directory::

    objects/ab/cdef...        content store of the pool (fetched once, verified)
    entries/DATASET/VERSION/  a version's tree, hard links into objects/
    tmp/                      staging of entries being built
    trash/                    entries being deleted (renamed here first)

Two cached versions share the objects they have in common; an object is deleted only
when no remaining entry needs it. Public API: ``mlfabric.caches``.
"""
