"""The request's principal, from ``Authorization: Bearer <token>``."""

from __future__ import annotations

from fastapi import Request

from mlfabric import tokens
from mlfabric.auth import Principal


def principal(request: Request) -> Principal:
    """FastAPI dependency: who the request acts as (401 without a valid token)."""
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    return tokens.authenticate(secret.strip() if scheme.lower() == "bearer" else None,
                               home=request.app.state.home)
