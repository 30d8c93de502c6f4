"""``mlfabric server start``."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="The platform server: REST API and dashboard.")
