"""``mlfabric project create|list|show|update|delete``."""

from __future__ import annotations

import typer

from mlfabric.cli.backend import projects
from mlfabric.console import OPTIONS, emit_json, listing, record, say
from mlfabric.units import format_duration

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS


def _num(x: float | None) -> str | None:
    return None if x is None else f"{x:g}"


def _show(p: projects.ProjectInfo) -> None:
    limit = p.interactive_time_limit
    record(p, [
        ["name", p.name], ["pool", p.pool], ["quota", _num(p.quota)],
        ["weight", _num(p.weight if p.weight is not None else p.quota)],
        ["limit", _num(p.limit)],
        ["interactive time limit", format_duration(limit) if limit is not None else None],
        ["allocated", _num(p.allocated)], ["running", p.running], ["pending", p.pending]],
        p.name)


@app.command("create")
def create(name: str,
           quota: float = typer.Option(..., "--quota", help="Guaranteed GPUs."),
           weight: float | None = typer.Option(None, "--weight", help="Over-quota weight "
                                               "(default: the quota)."),
           limit: float | None = typer.Option(None, "--limit", help="Most GPUs at once."),
           interactive_time_limit: str | None = typer.Option(
               None, "--interactive-time-limit", help="e.g. 8h"),
           pool: str = typer.Option("default", "--node-pool", help="Node pool.")) -> None:
    """Create a project."""
    p = projects.create(name, quota=quota, weight=weight, limit=limit, pool=pool,
                        interactive_time_limit=interactive_time_limit, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(p)
    else:
        say(f"created project {p.name} (quota {p.quota:g} in pool {p.pool})")


@app.command("list")
def list_() -> None:
    """List projects with allocations."""
    ps = projects.list(home=OPTIONS.home)
    listing(ps, ["NAME", "POOL", "QUOTA", "WEIGHT", "LIMIT", "ALLOCATED", "RUNNING", "PENDING"],
            [[p.name, p.pool, _num(p.quota),
              _num(p.weight if p.weight is not None else p.quota), _num(p.limit),
              _num(p.allocated), p.running, p.pending] for p in ps], [p.name for p in ps])


@app.command("show")
def show(name: str) -> None:
    """Show one project."""
    _show(projects.show(name, home=OPTIONS.home))


@app.command("update")
def update(name: str,
           quota: float | None = typer.Option(None, "--quota"),
           weight: float | None = typer.Option(None, "--weight"),
           limit: float | None = typer.Option(None, "--limit"),
           interactive_time_limit: str | None = typer.Option(None, "--interactive-time-limit"),
           pool: str | None = typer.Option(None, "--node-pool")) -> None:
    """Change a project's quota, weight, limit, interactive time limit or pool."""
    kwargs: dict[str, object] = {}
    if weight is not None:
        kwargs["weight"] = weight
    if limit is not None:
        kwargs["limit"] = limit
    if interactive_time_limit is not None:
        kwargs["interactive_time_limit"] = interactive_time_limit
    _show(projects.update(name, quota=quota, pool=pool, home=OPTIONS.home, **kwargs))  # type: ignore[arg-type]


@app.command("delete")
def delete(name: str) -> None:
    """Delete a project that has no pending or running jobs."""
    p = projects.delete(name, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(p)
    else:
        say(f"deleted project {p.name}")
