"""``mlfabric snapshot create|list|show|delete|restore|diff``."""

from __future__ import annotations

import typer

from mlfabric.cli import options
from mlfabric.cli.backend import snapshots
from mlfabric.console import OPTIONS, emit_json, listing, progress, record, say, size, warn, when

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS



@app.command("create")
def create(volume: str, name: str | None = typer.Option(None, "--name",
                                                        help="Default: s-<UTC time>")) -> None:
    """Snapshot a volume (only changed files are read)."""
    s = snapshots.create(volume, name=name, home=OPTIONS.home, progress=progress())
    for w in s.warnings:
        warn(w)
    if OPTIONS.json:
        emit_json(s)
    else:
        say(f"created snapshot {s.ref} ({s.files} files, {size(s.bytes)}, "
            f"{s.hashed_files} read)")


@app.command("list")
def list_(volume: str) -> None:
    """List a volume's snapshots, oldest first."""
    ss = snapshots.list(volume, home=OPTIONS.home)
    listing(ss, ["NAME", "KIND", "FILES", "SIZE", "CREATED"],
            [[s.name, s.kind, s.files, size(s.bytes), when(s.created_at)] for s in ss],
            [s.ref for s in ss])


@app.command("show")
def show(ref: str) -> None:
    """Show VOLUME@SNAPSHOT."""
    s = snapshots.show(ref, home=OPTIONS.home)
    record(s, [["snapshot", s.ref], ["kind", s.kind], ["created", when(s.created_at)],
               ["files", s.files], ["size", size(s.bytes)], ["manifest", s.manifest_oid]],
           s.ref)


@app.command("delete")
def delete(ref: str, yes: bool = options.yes()) -> None:
    """Delete VOLUME@SNAPSHOT (its data is reclaimed by gc)."""

    def question() -> str:
        s = snapshots.show(ref, home=OPTIONS.home)
        return f"delete snapshot {s.ref} ({s.files} files, {size(s.bytes)})?"

    options.ask_first(yes, question)
    s = snapshots.delete(ref, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(s)
    else:
        say(f"deleted snapshot {s.ref}")


@app.command("restore")
def restore(ref: str, no_safety_snapshot: bool = typer.Option(
        False, "--no-safety-snapshot", help="Skip the automatic snapshot of the current state."),
            dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would "
                                         "change in the live volume.")) -> None:
    """Roll a volume back to VOLUME@SNAPSHOT (a safety snapshot is taken first)."""
    if dry_run:
        plan = snapshots.plan_restore(ref, safety_snapshot=not no_safety_snapshot,
                                      home=OPTIONS.home, progress=progress())
        if OPTIONS.json:
            emit_json(plan)
            return
        for kind, paths in (("W", plan.write), ("R", plan.remove), ("P", plan.fix_mode)):
            for p in paths:
                say(f"{kind} {p}")
        say(f"would restore {plan.volume} to {plan.snapshot}: {len(plan.write)} written, "
            f"{len(plan.remove)} removed, {len(plan.fix_mode)} modes fixed"
            + ("; a safety snapshot first" if plan.safety_snapshot else ""))
        return
    r = snapshots.restore(ref, safety_snapshot=not no_safety_snapshot, home=OPTIONS.home,
                          progress=progress())
    if OPTIONS.json:
        emit_json(r)
        return
    if r.safety_snapshot:
        say(f"safety snapshot {r.volume}@{r.safety_snapshot} holds the previous state")
    say(f"restored {r.volume} to {r.snapshot}: {r.written} written, {r.removed} removed, "
        f"{r.metadata_fixed} metadata fixed")


@app.command("diff")
def diff(old: str, new: str) -> None:
    """Paths added (A), deleted (D), modified (M), mode changed (P) from OLD to NEW.
    NEW may be a live VOLUME."""
    d = snapshots.diff(old, new, home=OPTIONS.home, progress=progress())
    if OPTIONS.json:
        emit_json(d)
        return
    lines = ([("A", p) for p in d.added] + [("D", p) for p in d.deleted]
             + [("M", p) for p in d.modified] + [("P", p) for p in d.mode_changed])
    for code, p in sorted(lines, key=lambda x: x[1]):
        say(f"{code} {p}")
    say(f"{len(d.added)} added, {len(d.deleted)} deleted, {len(d.modified)} modified, "
        f"{len(d.mode_changed)} mode changed")
