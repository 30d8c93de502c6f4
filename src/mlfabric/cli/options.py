"""Options several nouns share: ``--project``, defaulting to ``$MLFABRIC_PROJECT``, then
the ``project`` setting (``mlfabric config set project P``); an explicit ``-p`` wins."""

from __future__ import annotations

from typing import Any

import typer

from mlfabric.config import PROJECT_ENV

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
        raise typer.BadParameter(f"no project: give --project P, set {PROJECT_ENV}, or run "
                                 "mlfabric config set project P", param=param)
    return value


def project(*, required: bool = False, help: str = _HELP) -> Any:
    """A ``--project/-p`` option with the user's default filled in (``required``: a usage
    error when there is none)."""
    return typer.Option(None, "--project", "-p", envvar=PROJECT_ENV, show_envvar=False,
                        callback=_required if required else _default, help=help)
