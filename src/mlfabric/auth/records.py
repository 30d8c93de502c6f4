"""Token records and the principal a request acts as."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlfabric.records import Record

ROLES = ("admin", "member")


@dataclass(frozen=True)
class Token(Record):
    """An API token as listed: never the secret, only its prefix."""

    id: int
    user: str
    role: str
    projects: list[str]
    prefix: str
    created_at: float
    expires_at: float | None = None  # None: valid until revoked
    last_used_at: float | None = None  # updated at most once a minute
    revoked_at: float | None = None
    origin: str | None = None  # "server": an admin token ``server start`` issued
    secret: str | None = None  # only in the result of ``create``, shown once


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: an admin sees everything, a member only its projects."""

    user: str
    role: str
    projects: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def sees(self, project: str | None) -> bool:
        """Whether this principal may see and act on things of ``project``."""
        return self.is_admin or (project is not None and project in self.projects)


LOCAL = Principal(user="local", role="admin")
