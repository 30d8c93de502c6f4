"""Public API for API tokens; mirrors ``mlfabric token ...`` one to one."""

from mlfabric.auth.records import Principal, Token
from mlfabric.auth.tokens import authenticate, create, ensure_admin, revoke
from mlfabric.auth.tokens import list_tokens as list

__all__ = ["Principal", "Token", "authenticate", "create", "ensure_admin", "list", "revoke"]
