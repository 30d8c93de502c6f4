"""``mlfabric faces make-dataset|train|eval|sweep``."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Face detection with learned-noise obfuscation.")
