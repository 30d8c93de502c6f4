"""``mlfabric inference create|list|show|delete``."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Triton-compatible inference servers.")
