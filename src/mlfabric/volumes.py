"""Public API for volumes; mirrors ``mlfabric volume ...`` one to one."""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, base="mlfabric.storage", exports={
    "create": "volume", "list": "volume:list_volumes", "show": "volume", "path": "volume",
    "usage": "volume", "holding": "volume", "delete": "volume", "plan_delete": "volume",
    "clone": "clone",
    "Volume": "records", "Usage": "records", "DeletePlan": "records",
})
