"""``mlfabric model-repo check``."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Model repositories (volumes in Triton's layout).")
