"""Options several nouns share: ``--project``, defaulting to ``$MLFABRIC_PROJECT``, then
the ``project`` setting (``mlfabric config set project P``); an explicit ``-p`` wins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from mlfabric.config import NO_PROJECT, PROJECT_ENV

_HELP = f"Project (default ${PROJECT_ENV}, then: mlfabric config get project)."
ONE_PROJECT = (f"One project (default ${PROJECT_ENV}, then: mlfabric config get project; "
               "with neither, every project).")


def _default(ctx: Any, param: Any, value: str | None) -> str | None:
    if value is not None or ctx.resilient_parsing:
        return value
    from mlfabric.config import default_project

    return default_project()


def _required(ctx: Any, param: Any, value: str | None) -> str | None:
    value = _default(ctx, param, value)
    if value is None and not ctx.resilient_parsing:
        raise typer.BadParameter(NO_PROJECT, param=param)
    return value


def yes() -> Any:
    """``--yes/-y``: a delete does not ask first on a terminal."""
    return typer.Option(False, "--yes", "-y", help="Do not ask for confirmation on a "
                        "terminal.")


def ask_first(yes: bool, question: Callable[[], str | None]) -> None:
    """On a terminal and without ``--yes``, ask ``question()`` (what is about to go; None:
    nothing to ask, the operation will refuse on its own) and abort on anything but yes.
    In scripts and pipes nothing is asked."""
    from mlfabric.console import confirm, interactive

    if not yes and interactive() and (q := question()) is not None:
        confirm(q)


def project(*, required: bool = False, help: str = _HELP) -> Any:
    """A ``--project/-p`` option with the user's default filled in (``required``: a usage
    error when there is none)."""
    return typer.Option(None, "--project", "-p", envvar=PROJECT_ENV, show_envvar=False,
                        callback=_required if required else _default, help=help)
