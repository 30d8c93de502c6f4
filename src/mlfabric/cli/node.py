"""``mlfabric node add|sync|list|show|remove``."""

from __future__ import annotations

import typer

from mlfabric.cli.backend import nodes
from mlfabric.console import OPTIONS, emit_json, listing, record, say
from mlfabric.units import format_size

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS


def _mem(n: int) -> str | None:
    return format_size(n) if n else None


@app.command("add")
def add(name: str | None = typer.Argument(None, help="Node name (default with --detect: "
                                          "this host's name)."),
        gpus: int | None = typer.Option(None, "--gpus", help="GPUs on the node."),
        gpu_memory: str | None = typer.Option(None, "--gpu-memory", help="Memory per GPU, "
                                              "e.g. 32Gi."),
        pool: str = typer.Option("default", "--pool", help="Node pool."),
        runtime: str | None = typer.Option(None, "--runtime", help="local, sim or ray "
                                           "(default $MLFABRIC_RUNTIME, else local)."),
        detect: bool = typer.Option(False, "--detect", help="Read this machine's GPUs "
                                    "from nvidia-smi.")) -> None:
    """Declare a node (or detect this machine's GPUs)."""
    n = nodes.add(name, gpus=gpus, gpu_memory=gpu_memory, pool=pool, runtime=runtime,
                  detect=detect, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(n)
    else:
        say(f"added node {n.name}: {n.gpus} GPUs in pool {n.pool}")


@app.command("sync")
def sync(runtime: str = typer.Option("ray", "--runtime", help="The runtime whose cluster "
                                     "to read nodes from (ray)."),
         address: str | None = typer.Option(None, "--address", help="The cluster's address "
                                            "(default $MLFABRIC_RAY_ADDRESS, else the last "
                                            "one synced).")) -> None:
    """Make the nodes of a Ray cluster the scheduler's nodes (joined added, left removed)."""
    r = nodes.sync(runtime=runtime, address=address, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(r)
        return
    for n in r.nodes:
        labels = ",".join(f"{k}={v}" for k, v in sorted(r.labels.get(n.name, {}).items())
                          if not k.startswith("ray.io/"))
        say(f"node {n.name}: {n.gpus} GPUs in pool {n.pool}" + (f" ({labels})" if labels else ""))
    say(f"synced {len(r.nodes)} node(s) from {r.runtime} at {r.address}: added "
        f"{len(r.added)}, updated {len(r.updated)}, removed {len(r.removed)}")
    say(r.note)


@app.command("list")
def list_() -> None:
    """List nodes with their allocated GPUs."""
    ns = nodes.list(home=OPTIONS.home)
    listing(ns, ["NAME", "POOL", "GPUS", "GPU MEMORY", "ALLOCATED", "RUNTIME"],
            [[n.name, n.pool, n.gpus, _mem(n.gpu_memory), f"{n.allocated:g}", n.runtime]
             for n in ns], [n.name for n in ns])


@app.command("show")
def show(name: str) -> None:
    """Show one node."""
    n = nodes.show(name, home=OPTIONS.home)
    record(n, [["name", n.name], ["pool", n.pool], ["gpus", n.gpus],
               ["gpu memory", _mem(n.gpu_memory)], ["allocated", f"{n.allocated:g}"],
               ["runtime", n.runtime]], n.name)


@app.command("remove")
def remove(name: str) -> None:
    """Remove a node; its jobs are preempted and queue again."""
    n = nodes.remove(name, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(n)
    else:
        say(f"removed node {n.name}")
