"""Public API for JupyterLab workspaces; mirrors ``mlfabric workspace ...`` one to one.

A workspace is a volume (labelled ``project=<P>``) plus an interactive scheduled job that
runs JupyterLab with the volume as its root folder.
"""

from mlfabric.workspaces.clone import clone
from mlfabric.workspaces.create import create
from mlfabric.workspaces.delete import delete
from mlfabric.workspaces.lifecycle import start, stop
from mlfabric.workspaces.listing import list_workspaces as list
from mlfabric.workspaces.listing import show
from mlfabric.workspaces.records import Workspace
from mlfabric.workspaces.snapshot import restore, snapshot

__all__ = ["Workspace", "clone", "create", "delete", "list", "restore", "show", "snapshot",
           "start", "stop"]
