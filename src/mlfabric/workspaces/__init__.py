"""Public API for JupyterLab workspaces; mirrors ``mlfabric workspace ...`` one to one.

A workspace is a volume (labelled ``project=<P>``) plus an interactive scheduled job that
runs JupyterLab with the volume as its root folder.
"""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "create": "create", "list": "listing:list_workspaces", "show": "listing",
    "clone": "clone", "snapshot": "snapshot", "restore": "snapshot", "stop": "lifecycle",
    "start": "lifecycle", "delete": "delete", "Workspace": "records",
})
