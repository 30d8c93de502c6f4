"""API tokens in the library, on an injected clock: expiry, last use at one-minute
resolution, the server's first admin token and its rotation."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlfabric import projects, tokens
from mlfabric.errors import AccessDenied, InvalidInput


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _denied(secret: str, home: Path, clock: Callable[[], float] = time.time) -> AccessDenied:
    with pytest.raises(AccessDenied) as info:
        tokens.authenticate(secret, home=str(home), clock=clock)
    assert info.value.unauthenticated  # a 401, as for a revoked token
    return info.value


def test_a_token_with_a_ttl_expires(home: Path) -> None:
    clock = Clock()
    projects.create("p", quota=1, home=str(home))
    t = tokens.create(user="alice", projects=["p"], ttl="30d", home=str(home), clock=clock)
    forever = tokens.create(user="bob", projects=["p"], home=str(home), clock=clock)
    assert t.expires_at == clock.now + 30 * 86400 and forever.expires_at is None
    assert t.secret is not None and forever.secret is not None
    clock.now += 30 * 86400 - 1
    assert tokens.authenticate(t.secret, home=str(home), clock=clock).user == "alice"
    clock.now += 1
    assert str(_denied(t.secret, home, clock)) == "expired token"
    assert tokens.authenticate(forever.secret, home=str(home), clock=clock).user == "bob"
    # listed like a revoked token: only with include_revoked (``token list --all``)
    assert [x.user for x in tokens.list(home=str(home), clock=clock)] == ["bob"]
    listed = tokens.list(include_revoked=True, home=str(home), clock=clock)
    assert [(x.user, x.expires_at) for x in listed] == [("alice", t.expires_at), ("bob", None)]


@pytest.mark.parametrize("ttl", ["0s", "0", "1 fortnight", -5])
def test_a_ttl_must_be_a_positive_duration(home: Path, ttl: str | float) -> None:
    with pytest.raises(InvalidInput):
        tokens.create(user="ops", role="admin", ttl=ttl, home=str(home))
    assert tokens.list(include_revoked=True, home=str(home)) == []


def test_last_use_is_written_at_most_once_a_minute(home: Path) -> None:
    clock = Clock()
    t = tokens.create(user="ops", role="admin", home=str(home), clock=clock)
    assert t.secret is not None and t.last_used_at is None

    def last_used() -> float | None:
        return tokens.list(home=str(home), clock=clock)[0].last_used_at

    tokens.authenticate(t.secret, home=str(home), clock=clock)
    assert last_used() == clock.now
    first = clock.now
    clock.now += 59
    tokens.authenticate(t.secret, home=str(home), clock=clock)
    assert last_used() == first
    clock.now += 2
    tokens.authenticate(t.secret, home=str(home), clock=clock)
    assert last_used() == clock.now


def test_the_server_issues_an_admin_token_only_when_none_is_valid(home: Path) -> None:
    clock = Clock()
    first = tokens.ensure_admin(home=str(home), clock=clock)
    assert first is not None and first.origin == "server" and first.role == "admin"
    assert tokens.ensure_admin(home=str(home), clock=clock) is None
    tokens.revoke(first.id, home=str(home))
    expiring = tokens.create(user="ops", role="admin", ttl="1h", home=str(home), clock=clock)
    assert tokens.ensure_admin(home=str(home), clock=clock) is None  # ops' is valid
    clock.now += 3600
    assert expiring.secret is not None
    _denied(expiring.secret, home, clock)
    again = tokens.ensure_admin(home=str(home), clock=clock)
    assert again is not None and again.secret is not None
    assert tokens.authenticate(again.secret, home=str(home), clock=clock).is_admin


def test_rotation_revokes_only_the_servers_admin_tokens(home: Path) -> None:
    projects.create("p", quota=1, home=str(home))
    first = tokens.ensure_admin(home=str(home))
    ops = tokens.create(user="ops", role="admin", home=str(home))
    member = tokens.create(user="alice", projects=["p"], home=str(home))
    second = tokens.rotate_admin(home=str(home))
    third = tokens.rotate_admin(home=str(home))
    assert first is not None and first.secret is not None and second.secret is not None
    for old in (first.secret, second.secret):
        assert str(_denied(old, home)) == "invalid or revoked token"
    for valid in (third, ops, member):
        assert valid.secret is not None
        tokens.authenticate(valid.secret, home=str(home))
    assert [t.id for t in tokens.list(home=str(home))] == [ops.id, member.id, third.id]
