"""API tokens and the principals they stand for (``mlfabric token ...``, alias
``mlfabric.tokens``)."""

from mlfabric.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "create": "tokens", "list": "tokens:list_tokens", "revoke": "tokens",
    "authenticate": "tokens", "ensure_admin": "tokens", "rotate_admin": "tokens",
    "Principal": "records", "Token": "records",
})
