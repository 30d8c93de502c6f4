"""Public API for scheduler projects; mirrors ``mlfabric project ...`` one to one."""

from mlfabric.scheduler.project_ops import create, show
from mlfabric.scheduler.project_ops import delete_project as delete
from mlfabric.scheduler.project_ops import list_projects as list
from mlfabric.scheduler.project_ops import update_project as update
from mlfabric.scheduler.records import ProjectInfo

__all__ = ["ProjectInfo", "create", "delete", "list", "show", "update"]
