"""Public API for inference serving; mirrors ``mlfabric inference ...`` and
``mlfabric model-repo check`` one to one.

A server is real Triton (``tritonserver`` from the ``nvidia-pytriton`` wheel) on a staging
copy of a volume in Triton's model-repository layout, run as a non-preemptible
scheduled job; any KServe v2 / ``tritonclient`` client talks to it unchanged.

The names are imported on first use: Triton's backend stubs import
``mlfabric.serving.runner`` for every model instance and need none of the catalog code.
"""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "create": "create", "list": "listing:list_servers", "show": "listing",
    "delete": "delete", "check_repo": "check", "client": "client",
    "InferenceServer": "records", "RepoReport": "records",
})
