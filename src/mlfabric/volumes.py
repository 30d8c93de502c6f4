"""Public API for volumes; mirrors ``mlfabric volume ...`` one to one."""

from mlfabric.storage.clone import clone
from mlfabric.storage.records import Usage, Volume
from mlfabric.storage.volume import create, delete, path, show, usage
from mlfabric.storage.volume import list_volumes as list

__all__ = ["Usage", "Volume", "clone", "create", "delete", "list", "path", "show", "usage"]
