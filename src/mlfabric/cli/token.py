"""``mlfabric token create|list|revoke``."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="API tokens for the platform server.")
