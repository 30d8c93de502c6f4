"""``mlfabric inference create|list|show|delete``."""

from __future__ import annotations

import typer

from mlfabric.cli import options
from mlfabric.cli.backend import serving
from mlfabric.console import OPTIONS, emit_json, listing, record, say, table, when
from mlfabric.serving import InferenceServer

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS


def _state(s: InferenceServer) -> str:
    return f"{s.state} ({s.message})" if s.message else s.state


def _models(s: InferenceServer) -> str | None:
    parts = [f"{m['name']}:{','.join(m['versions']) or '-'}" + ("" if m["state"] == "READY"
                                                                 else f" ({m['state']})")
             for m in s.models]
    return " ".join(parts) or None


def _show(s: InferenceServer) -> None:
    gpus = None if s.gpus is None else f"{s.gpus:g}"
    rows = [["name", s.name], ["project", s.project], ["state", _state(s)],
            ["model repo", s.model_repo], ["job", f"{s.project}/{s.job}"], ["node", s.node],
            ["gpus", gpus],
            ["http", s.http_url], ["grpc", s.grpc_url], ["metrics", s.metrics_url],
            ["created", when(s.created_at)]]
    record(s, [r for r in rows if r[1] is not None], s.name)
    if s.models and not (OPTIONS.json or OPTIONS.output == "name"):
        table(["MODEL", "VERSIONS", "STATE", "REASON"],
              [[m["name"], ", ".join(m["versions"]) or None, m["state"], m["reason"]]
               for m in s.models])


@app.command("create")
def create(name: str = typer.Argument(..., help="Server name."),
           model_repo: str = typer.Option(..., "--model-repo", help="Volume in Triton's "
                                          "model-repository layout."),
           project: str = options.project(required=True),
           gpus: str | None = typer.Option(None, "--gpus", "-g", help="GPU share: a whole "
                                           "number or a fraction below 1, e.g. 0.5."),
           host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
           http_port: int | None = typer.Option(None, "--http-port", help="Default: a free "
                                                "one."),
           grpc_port: int | None = typer.Option(None, "--grpc-port", help="Default: a free "
                                                "one."),
           metrics_port: int | None = typer.Option(None, "--metrics-port", help="Default: a "
                                                   "free one."),
           host_ipc: bool = typer.Option(False, "--host-ipc", help="Share the host's "
                                         "/dev/shm, for system shared memory clients."),
           wait: float = typer.Option(120.0, "--wait", help="Seconds to wait for the models "
                                      "to load (0: return at once).")) -> None:
    """Serve a model repository volume with Triton; prints the endpoints."""
    s = serving.create(name, model_repo=model_repo, project=project, gpus=gpus, host=host,
                       http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port,
                       host_ipc=host_ipc, wait_s=wait, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(s)
        return
    say(f"created inference server {s.name} in project {s.project}: {_state(s)}")
    say(f"http: {s.http_url}")
    say(f"grpc: {s.grpc_url}")
    say(f"metrics: {s.metrics_url}")
    for m in s.models:
        if m["state"] != "READY":
            say(f"model {m['name']}: {m['state'].lower()}: {m['reason']}")


@app.command("list")
def list_(project: str | None = options.project(help=options.ONE_PROJECT),
          all_projects: bool = typer.Option(False, "--all-projects", "-A",
                                            help="Every project.")) -> None:
    """List inference servers with their state, endpoints and models."""
    found = serving.list(project=None if all_projects else project, home=OPTIONS.home)
    listing(found, ["NAME", "PROJECT", "STATE", "REPO", "HTTP", "GRPC", "MODELS"],
            [[s.name, s.project, _state(s), s.model_repo, s.http_url, s.grpc_url, _models(s)]
             for s in found], [s.name for s in found])


@app.command("show")
def show(name: str) -> None:
    """Show a server: endpoints, state, and each model's versions, state and reason."""
    _show(serving.show(name, home=OPTIONS.home))


@app.command("delete")
def delete(name: str) -> None:
    """Stop a server (its job ends, its GPU share is released) and forget it."""
    s = serving.delete(name, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(s)
    else:
        say(f"deleted inference server {s.name}")
