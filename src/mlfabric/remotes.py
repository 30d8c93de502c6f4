"""Public API for remotes; mirrors ``mlfabric remote ...`` one to one."""

from mlfabric.lake.models import Remote
from mlfabric.lake.remote import add, remove
from mlfabric.lake.remote import list_remotes as list

__all__ = ["Remote", "add", "list", "remove"]
