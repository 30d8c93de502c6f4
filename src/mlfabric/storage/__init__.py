"""Storage engine: object store, volumes, snapshots, clones, restore, gc, verify.

Use the public modules ``mlfabric.volumes``, ``mlfabric.snapshots`` and ``mlfabric.store``.
"""
