"""Public API for remotes; mirrors ``mlfabric remote ...`` one to one."""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, base="mlfabric.datasets.lake", exports={
    "add": "remotes", "list": "remotes:list_remotes", "remove": "remotes",
    "Remote": "mlfabric.datasets.records",
})
