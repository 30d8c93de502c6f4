"""``mlfabric workspace create|list|show|clone|snapshot|restore|stop|start|delete``."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="JupyterLab workspaces on volumes.")
