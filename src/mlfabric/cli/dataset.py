"""``mlfabric dataset push|list|versions|show|pull|delete``."""

from __future__ import annotations

import typer

from mlfabric.cli import options
from mlfabric.cli.backend import datasets
from mlfabric.console import OPTIONS, emit_json, listing, progress, record, say, when
from mlfabric.datasets import DEFAULT_WORKERS
from mlfabric.units import format_size

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS
_WORKERS_HELP = "Objects transferred in parallel."



@app.command("push")
def push(source: str = typer.Argument(..., help="VOLUME (snapshots it first) or "
                                      "VOLUME@SNAPSHOT."),
         remote: str | None = typer.Option(None, "--remote", "-r", help="Remote (needed for "
                                           "a new dataset)."),
         name: str = typer.Option(..., "--name", "-n", help="Dataset name."),
         workers: int = typer.Option(DEFAULT_WORKERS, "--workers", "-j", min=1, max=256,
                                     help=_WORKERS_HELP),
         dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be "
                                      "pushed (a live volume is scanned, not snapshotted).")
         ) -> None:
    """Push a snapshot as the next version; uploads only objects the lake lacks."""
    if dry_run:
        plan = datasets.plan_push(source, name=name, remote=remote, home=OPTIONS.home,
                                  progress=progress())
        if OPTIONS.json:
            emit_json(plan)
        elif plan.unchanged:
            say(f"{plan.dataset}:{plan.version} already holds {plan.source}; nothing to push")
        else:
            say(f"would push {plan.source} as {plan.dataset}:{plan.version} on remote "
                f"{plan.remote}: {plan.files} files ({format_size(plan.bytes)}); would "
                f"upload {plan.upload_objects} of {plan.objects} objects "
                f"({format_size(plan.upload_bytes)})")
        return
    v = datasets.push(source, name=name, remote=remote, workers=workers, home=OPTIONS.home,
                      progress=progress())
    if OPTIONS.json:
        emit_json(v)
    elif v.unchanged:
        say(f"{v.ref} already holds {v.source or source}; nothing pushed")
    else:
        say(f"pushed {v.source} to {v.ref} on remote {v.remote}: {v.files} files "
            f"({format_size(v.bytes)}); uploaded {v.uploaded_objects} of {v.objects} objects "
            f"({format_size(v.uploaded_bytes or 0)})")


@app.command("list")
def list_(remote: str | None = typer.Option(None, "--remote", "-r", help="Only this remote, "
                                            "after importing versions its lake holds.")
          ) -> None:
    """List datasets."""
    ds = datasets.list(remote=remote, home=OPTIONS.home)
    listing(ds, ["NAME", "REMOTE", "VERSIONS", "LATEST", "CREATED"],
            [[d.name, d.remote, d.versions, d.latest, when(d.created_at)] for d in ds],
            [d.name for d in ds])


@app.command("versions")
def versions(name: str = typer.Argument(..., help="Dataset name.")) -> None:
    """List a dataset's versions with their source snapshots."""
    vs = datasets.versions(name, home=OPTIONS.home)
    listing(vs, ["VERSION", "SOURCE", "FILES", "SIZE", "CREATED"],
            [[v.version, v.source, v.files, format_size(v.bytes), when(v.created_at)]
             for v in vs], [v.ref for v in vs])


@app.command("show")
def show(ref: str = typer.Argument(..., help="DATASET:VERSION (or DATASET for the latest).")
         ) -> None:
    """Show a version and its lineage (volume -> snapshot -> version -> pulls)."""
    v = datasets.show(ref, home=OPTIONS.home)
    record(v, [
        ["version", v.ref], ["remote", v.remote], ["source", v.source],
        ["created", when(v.created_at)], ["files", v.files], ["size", format_size(v.bytes)],
        ["objects", v.objects], ["manifest", v.manifest_oid],
        ["lineage", " -> ".join(v.lineage)],
        ["pulled into", ", ".join(v.pulled_into) or None],
        ["cached in", ", ".join(v.cached_in) or None]], v.ref)


@app.command("pull")
def pull(ref: str = typer.Argument(..., help="DATASET:VERSION (or DATASET for the latest)."),
         into: str = typer.Option(..., "--into", help="New volume to create."),
         workers: int = typer.Option(DEFAULT_WORKERS, "--workers", "-j", min=1, max=256,
                                     help=_WORKERS_HELP)) -> None:
    """Create a volume with a version's content."""
    p = datasets.pull(ref, into=into, workers=workers, home=OPTIONS.home,
                      progress=progress())
    if OPTIONS.json:
        emit_json(p)
    else:
        say(f"pulled {p.dataset}:{p.version} into volume {p.volume} at {p.path}: {p.files} "
            f"files ({format_size(p.bytes)}); fetched {p.fetched_objects} objects "
            f"({format_size(p.fetched_bytes)})")


@app.command("delete")
def delete(ref: str = typer.Argument(..., help="DATASET:VERSION."),
           force: bool = typer.Option(False, "--force", help="Delete even while cached or "
                                      "leased (leased cache entries stay until released)."),
           yes: bool = options.yes()) -> None:
    """Delete a version (its objects go at the next gc --remote)."""

    def question() -> str:
        d = datasets.show(ref, home=OPTIONS.home)
        return (f"delete dataset version {d.dataset}:{d.version} of remote {d.remote} "
                f"({d.files} files, {format_size(d.bytes)})?")

    options.ask_first(yes, question)
    d = datasets.delete(ref, force=force, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(d)
    else:
        say(f"deleted {d.dataset}:{d.version}"
            + (f"; removed from cache pool(s) {', '.join(d.cache_entries_removed)}"
               if d.cache_entries_removed else "")
            + (f"; still leased in {', '.join(d.cache_entries_kept)}"
               if d.cache_entries_kept else ""))
