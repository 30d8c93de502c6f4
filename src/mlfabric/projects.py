"""Public API for scheduler projects; mirrors ``mlfabric project ...`` one to one."""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, base="mlfabric.scheduler", exports={
    "create": "project_ops", "list": "project_ops:list_projects", "show": "project_ops",
    "update": "project_ops:update_project", "delete": "project_ops:delete_project",
    "ProjectInfo": "records",
})
