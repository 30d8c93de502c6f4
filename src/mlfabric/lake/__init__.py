"""Datasets as immutable versions in an object-store lake (S3, MinIO, a local folder).

Lake layout under a remote's URL, content-addressed like the local object store so
objects are shared by every version and every dataset of the remote:

    objects/ab/cdef...          file content, id sha256:abcdef...
    manifests/ab/cdef...        a version's manifest (the snapshot format)
    datasets/NAME/vN.json       a version: manifest id, source volume@snapshot, counts
    pending/ID.json             a push in progress (a gc root until it finishes)

A version document is written last, so a version never points at missing objects and a
killed push leaves no visible version. Public API: ``mlfabric.remotes``,
``mlfabric.datasets``.
"""
