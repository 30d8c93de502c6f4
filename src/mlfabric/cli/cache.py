"""``mlfabric cache add|list|remove|evict|prepopulate|stats|config``."""

from __future__ import annotations

import typer

from mlfabric.cli.backend import caches
from mlfabric.console import OPTIONS, emit_json, listing, progress, say, when
from mlfabric.datasets import DEFAULT_WORKERS
from mlfabric.units import format_duration, format_size

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS
_POOL_HELP = "Cache pool (default: 'default', created on first use)."
_WORKERS_HELP = "Objects fetched in parallel."



@app.command("config")
def config(pool: str = typer.Option("default", "--pool", "-p", help="Pool name."),
           path: str | None = typer.Option(None, "--path", help="Directory of the pool."),
           size: str | None = typer.Option(None, "--size", help="Budget, e.g. 200Gi."),
           ttl: str | None = typer.Option(None, "--ttl", help="Evict entries unused this "
                                          "long (default 1d)."),
           high: float | None = typer.Option(None, "--high", help="High watermark (fraction "
                                             "of the budget; default 0.9)."),
           low: float | None = typer.Option(None, "--low", help="Evict down to this fraction "
                                            "(default 0.8).")) -> None:
    """Create a cache pool or change its settings."""
    p = caches.config(pool, path=path, size=size, ttl=ttl, high=high, low=low,
                      home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(p)
    else:
        say(f"cache pool {p.name} at {p.path}: budget {format_size(p.budget)}, ttl "
            f"{format_duration(p.ttl)}, watermarks {p.high:g}/{p.low:g}")


@app.command("add")
def add(ref: str = typer.Argument(..., help="DATASET[:VERSION] (default: the latest)."),
        pool: str | None = typer.Option(None, "--pool", "-p", help=_POOL_HELP),
        workers: int = typer.Option(DEFAULT_WORKERS, "--workers", "-j", min=1, max=256,
                                    help=_WORKERS_HELP),
        dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be "
                                     "fetched and evicted.")) -> None:
    """Cache a version once (fetching only missing objects) and print its path."""
    if dry_run:
        plan = caches.plan_add(ref, pool=pool, home=OPTIONS.home)
        if OPTIONS.json:
            emit_json(plan)
        elif plan.hit:
            say(f"{plan.ref} is cached in pool {plan.pool}; nothing to fetch")
        else:
            evict = f"; would evict {', '.join(plan.evict)}" if plan.evict else ""
            say(f"would cache {plan.ref} in pool {plan.pool}: {plan.files} files "
                f"({format_size(plan.bytes)}); would fetch {plan.fetch_objects} objects "
                f"({format_size(plan.fetch_bytes)}){evict}; pool usage "
                f"{format_size(plan.usage_before)} -> {format_size(plan.usage_after)}")
        return
    e = caches.add(ref, pool=pool, workers=workers, home=OPTIONS.home, progress=progress())
    if OPTIONS.json:
        emit_json(e)
    elif OPTIONS.quiet:
        return
    else:
        print(e.path)


@app.command("prepopulate")
def prepopulate(ref: str = typer.Argument(..., help="DATASET:VERSION."),
                path: list[str] = typer.Option(..., "--path", help="Path, folder or glob "
                                               "to warm (repeatable)."),
                exclude: list[str] | None = typer.Option(None, "--exclude", help="Path, "
                                                         "folder or glob to leave out."),
                pool: str | None = typer.Option(None, "--pool", "-p", help=_POOL_HELP),
                workers: int = typer.Option(DEFAULT_WORKERS, "--workers", "-j", min=1,
                                            max=256, help=_WORKERS_HELP)) -> None:
    """Warm only parts of a version."""
    e = caches.prepopulate(ref, paths=path, exclude=exclude or [], pool=pool, workers=workers,
                           home=OPTIONS.home, progress=progress())
    if OPTIONS.json:
        emit_json(e)
    else:
        say(f"{e.ref} in pool {e.pool}: {e.state}, {e.files} files "
            f"({format_size(e.bytes)}) at {e.path}; fetched {e.fetched_objects} objects")


@app.command("list")
def list_(pool: str | None = typer.Option(None, "--pool", "-p", help="Only this pool.")
          ) -> None:
    """List cached versions, with their state, last use and leases."""
    es = caches.list(pool=pool, home=OPTIONS.home)
    listing(es, ["POOL", "VERSION", "STATE", "FILES", "SIZE", "LAST USED", "USES", "LEASES",
                 "PATH"],
            [[e.pool, e.ref, e.state, e.files, format_size(e.bytes), when(e.last_used_at),
              e.uses, ", ".join(e.leases) or None, e.path] for e in es], [e.ref for e in es])


@app.command("remove")
def remove(ref: str = typer.Argument(..., help="DATASET:VERSION (DATASET: every version)."),
           pool: str | None = typer.Option(None, "--pool", "-p", help=_POOL_HELP),
           force: bool = typer.Option(False, "--force", help="Also when leased (ends the "
                                      "leases).")) -> None:
    """Remove cached versions from a pool now."""
    es = caches.remove(ref, pool=pool, force=force, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(es)
    else:
        for e in es:
            say(f"removed {e.ref} from cache pool {e.pool}")


@app.command("evict")
def evict(pool: str | None = typer.Option(None, "--pool", "-p", help="Only this pool "
                                          "(default: every pool)."),
          dry_run: bool = typer.Option(False, "--dry-run", help="Only print what would go.")
          ) -> None:
    """Run an eviction sweep: entries past the TTL, then LRU down to the low watermark."""
    reports = caches.evict(pool=pool, dry_run=dry_run, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(reports)
        return
    verb = "would evict" if dry_run else "evicted"
    for r in reports:
        for e in r.evicted:
            say(f"{verb} {e.ref} from {r.pool} ({e.reason}, frees {format_size(e.bytes)})")
        say(f"pool {r.pool}: {format_size(r.usage_before)} -> {format_size(r.usage_after)} "
            f"of {format_size(r.budget)}; {len(r.evicted)} {verb}"
            + ("; the rest is leased" if r.blocked else ""))


@app.command("stats")
def stats(pool: str | None = typer.Option(None, "--pool", "-p", help="Only this pool.")
          ) -> None:
    """Entries, bytes, budget, hits, misses, hit ratio, evictions, bytes fetched."""
    ss = caches.stats(pool=pool, home=OPTIONS.home)
    listing(ss, ["POOL", "ENTRIES", "SIZE", "BUDGET", "USE", "LEASES", "HITS", "MISSES",
                 "HIT RATIO", "EVICTIONS", "FETCHED"],
            [[s.pool, s.entries, format_size(s.bytes), format_size(s.budget),
              f"{s.usage_ratio:.0%}", s.leases, s.hits, s.misses, f"{s.hit_ratio:.2f}",
              s.evictions, format_size(s.bytes_fetched)] for s in ss], [s.pool for s in ss])
