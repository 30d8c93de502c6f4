"""API tokens: ``mlfabric token create|list|revoke``.

A token is ``mlf_`` + 32 random bytes (url-safe base64). The catalog keeps only its
sha256 (a token has full entropy, so a slow password hash buys nothing) and a short
prefix to tell tokens apart. A token is valid until it is revoked or, when it was made
with a time to live, until it expires.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, or_, select, update

from mlfabric.auth.records import ROLES, Principal, Token
from mlfabric.catalog import platform_schema as P
from mlfabric.errors import AccessDenied, InvalidInput, NotFound
from mlfabric.home import open_home
from mlfabric.names import validate_name
from mlfabric.units import parse_duration

Clock = Callable[[], float]

PREFIX = "mlf_"
LAST_USED_RESOLUTION_S = 60.0  # one catalog write per token per minute, not per request
SERVER = "server"  # the origin of the admin tokens ``server start`` issues
T = P.api_tokens.c


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _record(row: Any, secret: str | None = None) -> Token:
    return Token(id=row.id, user=row.user, role=row.role, projects=list(row.projects),
                 prefix=row.prefix, created_at=row.created_at, expires_at=row.expires_at,
                 last_used_at=row.last_used_at, revoked_at=row.revoked_at, origin=row.origin,
                 secret=secret)


def _valid(now: float) -> ColumnElement[bool]:
    """Neither revoked nor expired at ``now``."""
    return and_(T.revoked_at.is_(None), or_(T.expires_at.is_(None), T.expires_at > now))


def _ttl(ttl: str | float | None) -> float | None:
    if ttl is None:
        return None
    seconds = parse_duration(ttl)
    if seconds <= 0:
        raise InvalidInput(f"a token's ttl must be more than 0, not '{ttl}'", field="ttl",
                           value=ttl)
    return seconds


def _issue(conn: Connection, *, user: str, role: str, projects: Sequence[str] = (),
           now: float, ttl_s: float | None = None, origin: str | None = None) -> Token:
    """Insert a token in the caller's transaction; the result carries the secret."""
    secret = PREFIX + secrets.token_urlsafe(32)
    res = conn.execute(P.api_tokens.insert().values(
        user=user, role=role, projects=list(projects), prefix=secret[:len(PREFIX) + 6],
        secret_hash=_hash(secret), created_at=now,
        expires_at=None if ttl_s is None else now + ttl_s, origin=origin))
    row = conn.execute(select(P.api_tokens).where(
        T.id == res.inserted_primary_key[0])).one()
    return _record(row, secret)


def create(*, user: str, role: str = "member", projects: Sequence[str] = (),
           ttl: str | float | None = None, home: str | None = None,
           clock: Clock = time.time) -> Token:
    """Issue a token for ``user`` (expiring after ``ttl``, e.g. ``30d``; never without);
    the secret is in the result and nowhere else."""
    validate_name(user, "user name")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not '{role}'", field="role")
    projects = [validate_name(p, "project name") for p in projects]
    if role == "member" and not projects:
        raise InvalidInput("a member token needs at least one --project", field="project")
    ttl_s = _ttl(ttl)
    st = open_home(home)

    def _write(conn: Connection) -> Token:
        if projects:
            from mlfabric.scheduler import jobstore

            for p in projects:
                jobstore.project_row(conn, p)  # NotFound for an unknown project
        return _issue(conn, user=user, role=role, projects=projects, now=clock(),
                      ttl_s=ttl_s)

    return st.catalog.run_write(_write)


def list_tokens(*, include_revoked: bool = False, home: str | None = None,
                clock: Clock = time.time) -> list[Token]:
    """Tokens by id (revoked and expired ones only when asked)."""
    st = open_home(home)
    q = select(P.api_tokens).order_by(T.id)
    if not include_revoked:
        q = q.where(_valid(clock()))
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


def authenticate(secret: str | None, *, home: str | None = None,
                 clock: Clock = time.time) -> Principal:
    """The principal of a bearer secret; ``AccessDenied(unauthenticated=True)`` otherwise."""
    if not secret:
        raise AccessDenied("missing bearer token (Authorization: Bearer mlf_...)",
                           unauthenticated=True)
    st = open_home(home)
    digest = _hash(secret)

    def _q(conn: Connection) -> Any:
        return conn.execute(select(P.api_tokens).where(T.secret_hash == digest)).first()

    row = st.catalog.run_read(_q)
    if row is None or row.revoked_at is not None:
        raise AccessDenied("invalid or revoked token", unauthenticated=True)
    now = clock()
    if row.expires_at is not None and now >= row.expires_at:
        # Told apart from a revoked one: the caller holds the secret, so this tells it
        # nothing new, and it says what to do (ask for a new token).
        raise AccessDenied("expired token", unauthenticated=True)
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION_S:
        st.catalog.run_write(lambda conn: conn.execute(
            update(P.api_tokens).where(T.id == row.id).values(last_used_at=now)))
    return Principal(user=row.user, role=row.role, projects=tuple(row.projects))


def ensure_admin(*, home: str | None = None, clock: Clock = time.time) -> Token | None:
    """Issue the server's admin token when the catalog has no valid admin token (the first
    server start of a home); None otherwise."""
    st = open_home(home)

    def _write(conn: Connection) -> Token | None:
        # Check and insert in one write transaction: two servers starting on one home
        # issue one token between them.
        now = clock()
        if conn.execute(select(T.id).where(T.role == "admin", _valid(now))).first():
            return None
        return _issue(conn, user="admin", role="admin", now=now, origin=SERVER)

    return st.catalog.run_write(_write)


def rotate_admin(*, home: str | None = None, clock: Clock = time.time) -> Token:
    """Issue a fresh admin token for the server and revoke the valid ones it issued before
    (``server start --admin-token``); tokens made with ``token create`` stay valid."""
    st = open_home(home)

    def _write(conn: Connection) -> Token:
        now = clock()
        conn.execute(update(P.api_tokens).where(T.origin == SERVER, _valid(now))
                     .values(revoked_at=now))
        return _issue(conn, user="admin", role="admin", now=now, origin=SERVER)

    return st.catalog.run_write(_write)
