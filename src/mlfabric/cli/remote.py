"""``mlfabric remote add|list|remove``."""

from __future__ import annotations

import typer

from mlfabric.cli.backend import remotes
from mlfabric.console import OPTIONS, emit_json, listing, say
from mlfabric.transfer import DEFAULT_TIMEOUT

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS


@app.command("add")
def add(name: str = typer.Argument(..., help="Remote name."),
        url: str = typer.Argument(..., help="Folder or URL of the lake."),
        endpoint_url: str | None = typer.Option(None, "--endpoint-url",
                                                help="S3 endpoint URL (MinIO, Ceph, ...)."),
        option: list[str] | None = typer.Option(
            None, "--option", "-o", help="k=v for the fsspec file system (repeatable). "
            "Credentials come from the environment or the AWS config files."),
        timeout: float = typer.Option(DEFAULT_TIMEOUT, "--timeout", help="Seconds a request "
                                      "may wait to connect or for an answer.")) -> None:
    """Register a remote (no request is made; credentials are never stored)."""
    r = remotes.add(name, url, endpoint_url=endpoint_url, options=option or [],
                    timeout=timeout, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(r)
    else:
        say(f"added remote {r.name} at {r.url}"
            + (f" (endpoint {r.endpoint_url})" if r.endpoint_url else ""))


@app.command("list")
def list_() -> None:
    """List remotes."""
    rs = remotes.list(home=OPTIONS.home)
    listing(rs, ["NAME", "URL", "ENDPOINT", "OPTIONS", "DATASETS"],
            [[r.name, r.url, r.endpoint_url,
              ", ".join(f"{k}={v}" for k, v in r.options.items()) or None, r.datasets]
             for r in rs], [r.name for r in rs])


@app.command("remove")
def remove(name: str, force: bool = typer.Option(False, "--force", help="Also forget its "
                                                 "datasets (the lake is not touched).")
           ) -> None:
    """Forget a remote."""
    r = remotes.remove(name, force=force, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(r)
    else:
        say(f"removed remote {r.name}")
