"""Who may call an operation with given arguments, and what of its result they see.

An admin passes every check. A member acts only on its projects: the rules here decide
who may call at all and which project arguments it may give, and filter lists; the
resources an operation's arguments name are checked by ``references`` (another
project's is "not found").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlfabric.auth import Principal
from mlfabric.errors import AccessDenied

PROJECT_LABEL = "project"


class Access:
    """The default: any authenticated caller, results unfiltered."""

    def check_caller(self, who: Principal) -> None:
        """Raise ``AccessDenied`` when no arguments could let ``who`` call it; runs before
        the request's arguments are read, so a refused caller learns nothing of them."""

    def check(self, who: Principal, args: dict[str, Any], home: str | None) -> dict[str, Any]:
        """Raise ``AccessDenied`` or return the arguments (possibly completed)."""
        return args

    def filter(self, who: Principal, result: Any) -> Any:
        return result

    def fills(self) -> frozenset[str]:
        """Arguments this rule may supply for the caller (a member's one project)."""
        return frozenset()

    @property
    def admins_only(self) -> bool:
        """Whether ``check_caller`` refuses every member."""
        return False


ANY = Access()


class _Admin(Access):
    def check_caller(self, who: Principal) -> None:
        if not who.is_admin:
            raise AccessDenied(f"user '{who.user}' is not an admin")

    def check(self, who: Principal, args: dict[str, Any], home: str | None) -> dict[str, Any]:
        self.check_caller(who)
        return args

    @property
    def admins_only(self) -> bool:
        return True


ADMIN = _Admin()


def volume_project(volume: Any) -> str | None:
    return volume.labels.get(PROJECT_LABEL)


def project_field(record: Any) -> str | None:
    return getattr(record, "project", None)


@dataclass(frozen=True)
class _Filtered(Access):
    project_of: Callable[[Any], str | None]

    def filter(self, who: Principal, result: Any) -> Any:
        if who.is_admin:
            return result
        return [r for r in result if who.sees(self.project_of(r))]


def filtered(project_of: Callable[[Any], str | None]) -> Access:
    """Members see only the items of their projects."""
    return _Filtered(project_of)


@dataclass(frozen=True)
class _AllOf(Access):
    rules: tuple[Access, ...]

    def check_caller(self, who: Principal) -> None:
        for rule in self.rules:
            rule.check_caller(who)

    def check(self, who: Principal, args: dict[str, Any], home: str | None) -> dict[str, Any]:
        for rule in self.rules:
            args = rule.check(who, args, home)
        return args

    def filter(self, who: Principal, result: Any) -> Any:
        for rule in self.rules:
            result = rule.filter(who, result)
        return result

    def fills(self) -> frozenset[str]:
        return frozenset().union(*(rule.fills() for rule in self.rules))

    @property
    def admins_only(self) -> bool:
        return any(rule.admins_only for rule in self.rules)


def all_of(*rules: Access) -> Access:
    return _AllOf(rules)


@dataclass(frozen=True)
class _ProjectArg(Access):
    name: str
    optional: bool

    def check(self, who: Principal, args: dict[str, Any], home: str | None) -> dict[str, Any]:
        project = args.get(self.name)
        if who.is_admin or (project is None and self.optional):
            return args
        if project is None and len(who.projects) == 1:
            return {**args, self.name: who.projects[0]}
        if not who.sees(project):
            raise AccessDenied(f"user '{who.user}' is not a member of project "
                               f"'{project}'" if project else "give a project")
        return args

    def fills(self) -> frozenset[str]:
        return frozenset({self.name})


def project_arg(name: str, *, optional: bool = False) -> Access:
    """The argument ``name`` is a project the caller must belong to."""
    return _ProjectArg(name, optional)


@dataclass(frozen=True)
class _LabelledCreate(Access):
    name: str

    def check(self, who: Principal, args: dict[str, Any], home: str | None) -> dict[str, Any]:
        if who.is_admin:
            return args
        labels = list(args.get(self.name) or [])
        given = [x.split("=", 1)[1] for x in labels if x.startswith(PROJECT_LABEL + "=")]
        if not given and len(who.projects) == 1:
            return {**args, self.name: [*labels, f"{PROJECT_LABEL}={who.projects[0]}"]}
        if len(given) != 1 or not who.sees(given[0]):
            raise AccessDenied(f"user '{who.user}' must label the volume "
                               f"{PROJECT_LABEL}=<one of {', '.join(who.projects)}>")
        return args


def labelled_create(name: str) -> Access:
    """A member's new volume carries ``project=<its project>`` (added when it has one)."""
    return _LabelledCreate(name)


class _Overview(Access):
    """The cluster overview: totals for everyone, project rows and GPU owners only of
    the caller's projects."""

    def filter(self, who: Principal, result: Any) -> Any:
        if who.is_admin:
            return result
        from mlfabric.web import visible_overview

        return visible_overview(result, who.sees)


OVERVIEW = _Overview()


class _Status(Access):
    """The scheduler's status: a member sees its own projects' rows."""

    def filter(self, who: Principal, result: Any) -> Any:
        if who.is_admin:
            return result
        from dataclasses import replace

        return replace(result, projects=[p for p in result.projects if who.sees(p.project)])


filtered_status = _Status()


def named(rule: str) -> Access:
    """The rule an app names in its routes: ``admin``, ``any`` or ``project``; the
    resources its arguments name are its route's ``refs``."""
    rules = {"admin": ADMIN, "any": ANY}
    if rule == "project":
        return project_arg("project")
    if rule not in rules:
        raise ValueError(f"unknown access rule {rule!r} (admin, any, project)")
    return rules[rule]
