"""API tokens: ``mlfabric token create|list|revoke``.

A token is ``mlf_`` + 32 random bytes (url-safe base64). The catalog keeps only its
sha256 (a token has full entropy, so a slow password hash buys nothing) and a short
prefix to tell tokens apart.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from mlfabric.auth.records import ROLES, Principal, Token
from mlfabric.catalog import platform_schema as P
from mlfabric.errors import AccessDenied, InvalidInput, NotFound
from mlfabric.home import open_home
from mlfabric.names import validate_name

PREFIX = "mlf_"
LAST_USED_RESOLUTION_S = 60.0  # one catalog write per token per minute, not per request


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _record(row: Any, secret: str | None = None) -> Token:
    return Token(id=row.id, user=row.user, role=row.role, projects=list(row.projects),
                 prefix=row.prefix, created_at=row.created_at, last_used_at=row.last_used_at,
                 revoked_at=row.revoked_at, secret=secret)


def create(*, user: str, role: str = "member", projects: Sequence[str] = (),
           home: str | None = None) -> Token:
    """Issue a token for ``user``; the secret is in the result and nowhere else."""
    validate_name(user, "user name")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not '{role}'", field="role")
    projects = [validate_name(p, "project name") for p in projects]
    if role == "member" and not projects:
        raise InvalidInput("a member token needs at least one --project", field="project")
    secret = PREFIX + secrets.token_urlsafe(32)
    st = open_home(home)

    def _write(conn: Connection) -> Any:
        if projects:
            from mlfabric.scheduler import jobstore

            for p in projects:
                jobstore.project_row(conn, p)  # NotFound for an unknown project
        res = conn.execute(P.api_tokens.insert().values(
            user=user, role=role, projects=projects, prefix=secret[:len(PREFIX) + 6],
            secret_hash=_hash(secret), created_at=time.time()))
        return conn.execute(select(P.api_tokens).where(
            P.api_tokens.c.id == res.inserted_primary_key[0])).one()

    return _record(st.catalog.run_write(_write), secret)


def list_tokens(*, include_revoked: bool = False, home: str | None = None) -> list[Token]:
    """Tokens by id (revoked ones only when asked)."""
    st = open_home(home)
    q = select(P.api_tokens).order_by(P.api_tokens.c.id)
    if not include_revoked:
        q = q.where(P.api_tokens.c.revoked_at.is_(None))
    return st.catalog.run_read(lambda conn: [_record(r) for r in conn.execute(q)])


def revoke(token_id: int, *, home: str | None = None) -> Token:
    """Revoke a token: every later request with it gets 401."""
    if not 0 < token_id < 2**63:  # ids are the catalog's 64-bit integers: none out there
        raise NotFound("token", str(token_id))
    st = open_home(home)

    def _write(conn: Connection) -> Any:
        row = conn.execute(select(P.api_tokens).where(P.api_tokens.c.id == token_id)).first()
        if row is None:
            raise NotFound("token", str(token_id))
        if row.revoked_at is None:
            conn.execute(update(P.api_tokens).where(P.api_tokens.c.id == token_id)
                         .values(revoked_at=time.time()))
        return conn.execute(select(P.api_tokens).where(P.api_tokens.c.id == token_id)).one()

    return _record(st.catalog.run_write(_write))


def authenticate(secret: str | None, *, home: str | None = None) -> Principal:
    """The principal of a bearer secret; ``AccessDenied(unauthenticated=True)`` otherwise."""
    if not secret:
        raise AccessDenied("missing bearer token (Authorization: Bearer mlf_...)",
                           unauthenticated=True)
    st = open_home(home)
    digest = _hash(secret)

    def _q(conn: Connection) -> Any:
        return conn.execute(select(P.api_tokens).where(
            P.api_tokens.c.secret_hash == digest)).first()

    row = st.catalog.run_read(_q)
    if row is None or row.revoked_at is not None:
        raise AccessDenied("invalid or revoked token", unauthenticated=True)
    now = time.time()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION_S:
        st.catalog.run_write(lambda conn: conn.execute(
            update(P.api_tokens).where(P.api_tokens.c.id == row.id).values(last_used_at=now)))
    return Principal(user=row.user, role=row.role, projects=tuple(row.projects))


def ensure_admin(*, home: str | None = None) -> Token | None:
    """Create the first admin token when the catalog has none (first server start)."""
    st = open_home(home)

    def _q(conn: Connection) -> bool:
        return conn.execute(select(P.api_tokens.c.id).where(
            P.api_tokens.c.role == "admin", P.api_tokens.c.revoked_at.is_(None))).first() is None

    if not st.catalog.run_read(_q):
        return None
    return create(user="admin", role="admin", home=home)
