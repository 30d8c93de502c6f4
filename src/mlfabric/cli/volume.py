"""``mlfabric volume create|list|show|path|usage|clone|delete``."""

from __future__ import annotations

import typer

from mlfabric.cli import options
from mlfabric.cli.backend import volumes
from mlfabric.console import (
    OPTIONS,
    emit_json,
    listing,
    progress,
    record,
    say,
    size,
    table,
    warn,
    when,
)

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS



def _show(v: volumes.Volume) -> None:
    rows = [["name", v.name], ["path", v.path], ["driver", v.driver],
            ["created", when(v.created_at)], ["size", size(v.size_limit)],
            ["labels", ", ".join(f"{k}={x}" for k, x in v.labels.items()) or None],
            ["snapshots", v.snapshots], ["read-only", "yes" if v.read_only else "no"],
            ["cloned from", v.origin], ["clone mode", v.clone_mode]]
    record(v, rows, v.name)


@app.command("create")
def create(name: str, size: str | None = typer.Option(None, "--size", help="e.g. 50Gi, 500MB"),
           label: list[str] | None = typer.Option(None, "--label", help="k=v (repeatable)")
           ) -> None:
    """Create an empty volume."""
    v = volumes.create(name, size=size, labels=label, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(v)
    else:
        say(f"created volume {v.name} at {v.path}")


@app.command("list")
def list_() -> None:
    """List volumes."""
    vs = volumes.list(home=OPTIONS.home)
    listing(vs, ["NAME", "DRIVER", "SIZE", "SNAPSHOTS", "ORIGIN", "LABELS", "CREATED"],
            [[v.name, v.driver + (" (ro)" if v.read_only else ""), size(v.size_limit),
              v.snapshots, v.origin,
              ",".join(f"{k}={x}" for k, x in v.labels.items()) or None, when(v.created_at)]
             for v in vs], [v.name for v in vs])


@app.command("show")
def show(name: str) -> None:
    """Show a volume, its lineage and snapshot count."""
    _show(volumes.show(name, home=OPTIONS.home))


@app.command("path")
def path(name: str) -> None:
    """Print the volume's data directory."""
    p = volumes.path(name, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json({"name": name, "path": p})
    else:
        print(p)


@app.command("usage")
def usage(name: str) -> None:
    """Logical bytes, bytes stored by snapshots, dedup ratio."""
    u = volumes.usage(name, home=OPTIONS.home)
    if u.warning:
        warn(u.warning)
    if OPTIONS.json:
        emit_json(u)
        return
    table(["field", "value"], [
        ["volume", u.volume], ["files", u.files], ["logical", size(u.logical_bytes)],
        ["size limit", size(u.size_limit)], ["snapshots", u.snapshots],
        ["snapshots (logical)", size(u.snapshot_logical_bytes)],
        ["stored (after dedup)", size(u.stored_bytes)],
        ["dedup ratio", f"{u.dedup_ratio:.2f}x"]])


@app.command("clone")
def clone(name: str,
          source: str = typer.Option(..., "--from", help="VOLUME or VOLUME@SNAPSHOT"),
          mode: str = typer.Option("auto", "--mode", help="auto|reflink|copy|link (link: "
                                   "read-only, hard links to the snapshot's objects)"),
          label: list[str] | None = typer.Option(None, "--label", help="k=v (repeatable)")
          ) -> None:
    """Create a volume from a snapshot (takes one first when none is given)."""
    v = volumes.clone(name, source, mode=mode, labels=label, home=OPTIONS.home,
                      progress=progress())
    if OPTIONS.json:
        emit_json(v)
    else:
        say(f"cloned {v.origin} to volume {v.name} at {v.path}"
            + (" (read-only)" if v.read_only else ""))


@app.command("delete")
def delete(name: str, force: bool = typer.Option(False, "--force",
                                                 help="Also delete its snapshots."),
           dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be "
                                        "deleted."),
           yes: bool = options.yes()) -> None:
    """Delete a volume (never while a job, workspace or inference server mounts it)."""
    if dry_run:
        plan = volumes.plan_delete(name, home=OPTIONS.home)
        if OPTIONS.json:
            emit_json(plan)
            return
        snaps = (f" and its {len(plan.snapshots)} snapshot(s) ({', '.join(plan.snapshots)})"
                 if plan.snapshots else "")
        say(f"would delete volume {plan.volume}{snaps}: {plan.files} files "
            f"({size(plan.bytes)})")
        if plan.clones:
            say(f"its clones stay: {', '.join(plan.clones)}")
        if plan.mounted_by:
            say(f"it is mounted by {', '.join(plan.mounted_by)}: deleting is refused "
                "until they are gone")
        if plan.needs_force and not force:
            say("it has snapshots: deleting needs --force")
        return

    def question() -> str | None:
        plan = volumes.plan_delete(name, home=OPTIONS.home)
        if plan.mounted_by or (plan.needs_force and not force):
            return None  # delete says no
        snaps = f" and its {len(plan.snapshots)} snapshot(s)" if plan.snapshots else ""
        return f"delete volume {name}{snaps} ({plan.files} files, {size(plan.bytes)})?"

    options.ask_first(yes, question)
    v = volumes.delete(name, force=force, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(v)
    else:
        say(f"deleted volume {v.name}")
