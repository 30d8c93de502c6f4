"""Public API for API tokens; mirrors ``mlfabric token ...`` one to one."""

from mlfabric.exports import alias

__getattr__, __dir__, __all__ = alias("mlfabric.auth")
