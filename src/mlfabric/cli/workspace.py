"""``mlfabric workspace create|list|show|clone|snapshot|restore|stop|start|delete``."""

from __future__ import annotations

import sys

import typer

from mlfabric.cli import options
from mlfabric.cli.backend import workspaces
from mlfabric.console import OPTIONS, emit_json, listing, progress, record, say, when
from mlfabric.errors import InvalidInput
from mlfabric.workspaces import Workspace

app = typer.Typer(no_args_is_help=True)  # its help: mlfabric.cli.main.NOUNS

_PASSWORD_HELP = "Read the password from stdin (default: generate one and print it once)."


def _password(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    secret = sys.stdin.read().rstrip("\r\n")
    if not secret:
        raise InvalidInput("--password-stdin: no password on stdin", field="password")
    return secret


def _state(ws: Workspace) -> str:
    return f"{ws.state.lower()} ({ws.reason})" if ws.reason else ws.state.lower()


def _made(verb: str, ws: Workspace) -> None:
    """What create and clone print: the URL, and a generated password once."""
    if OPTIONS.json:
        emit_json(ws)
        return
    say(f"{verb} workspace {ws.name} in project {ws.project}: {_state(ws)}")
    say(f"url: {ws.url}")
    if ws.password:  # shown once, so even --quiet must not hide it
        sys.stdout.write(f"password: {ws.password} (shown once; only its hash is kept)\n")


def _show(ws: Workspace) -> None:
    rows = [["name", ws.name], ["project", ws.project], ["state", ws.state],
            ["reason", ws.reason], ["url", ws.url], ["node", ws.node],
            ["gpus", f"{ws.gpus:g}"],
            ["volume", ws.volume], ["job", f"{ws.project}/{ws.job}"],
            ["volumes", ", ".join(ws.volumes) or None],
            ["datasets", ", ".join(ws.datasets) or None],
            ["created", when(ws.created_at)]]
    record(ws, [r for r in rows if r[1] is not None], ws.name)


@app.command("create")
def create(name: str = typer.Argument(..., help="Workspace name (also its volume's)."),
           project: str = options.project(required=True),
           size: str | None = typer.Option(None, "--size", help="Volume size, e.g. 10Gi."),
           gpus: str | None = typer.Option(None, "--gpus", "-g", help="GPU share: a whole "
                                           "number or a fraction below 1 (default 0.5)."),
           volume: list[str] | None = typer.Option(None, "--volume", help="VOL[:PATH] shown at "
                                                   "PATH in the workspace (repeatable)."),
           dataset: list[str] | None = typer.Option(None, "--dataset", help="DS:VER, cached, "
                                                    "at datasets/DS (repeatable)."),
           password_stdin: bool = typer.Option(False, "--password-stdin", help=_PASSWORD_HELP),
           host: str = typer.Option("127.0.0.1", "--host", help="Address JupyterLab binds."),
           port: int | None = typer.Option(None, "--port", help="Port (default: a free one).")
           ) -> None:
    """Create a volume and start JupyterLab on it; prints the URL."""
    ws = workspaces.create(name, size=size, project=project, gpus=gpus, volumes=volume or [],
                           datasets=dataset or [], password=_password(password_stdin),
                           host=host, port=port, home=OPTIONS.home)
    _made("created", ws)


@app.command("list")
def list_(project: str | None = options.project(help=options.ONE_PROJECT),
          all_projects: bool = typer.Option(False, "--all-projects", "-A",
                                            help="Every project.")) -> None:
    """List workspaces with their state and URL."""
    found = workspaces.list(project=None if all_projects else project, home=OPTIONS.home)
    listing(found, ["NAME", "PROJECT", "STATE", "GPUS", "URL", "REASON"],
            [[w.name, w.project, w.state, f"{w.gpus:g}", w.url, w.reason] for w in found],
            [w.name for w in found])


@app.command("show")
def show(name: str) -> None:
    """Show a workspace: URL, state or why it is pending, mounts."""
    _show(workspaces.show(name, home=OPTIONS.home))


@app.command("clone")
def clone(name: str = typer.Argument(..., help="New workspace name."),
          source: str = typer.Option(..., "--from", help="WS (snapshots it now) or WS@SNAP."),
          project: str | None = typer.Option(None, "--project", "-p",
                                             help="Project (default the source's)."),
          password_stdin: bool = typer.Option(False, "--password-stdin", help=_PASSWORD_HELP)
          ) -> None:
    """Clone a workspace (its files and settings) into a new one."""
    ws = workspaces.clone(name, source=source, project=project,
                          password=_password(password_stdin), home=OPTIONS.home,
                          progress=progress())
    _made("cloned", ws)


@app.command("snapshot")
def snapshot(name: str, snap: str | None = typer.Option(None, "--name", help="Snapshot name "
                                                        "(default: s- and the time).")) -> None:
    """Snapshot a workspace's volume."""
    s = workspaces.snapshot(name, snapshot=snap, home=OPTIONS.home, progress=progress())
    if OPTIONS.json:
        emit_json(s)
    else:
        say(f"created snapshot {s.ref} ({s.files} files)")


@app.command("restore")
def restore(ref: str = typer.Argument(..., help="WS@SNAP")) -> None:
    """Stop the workspace, restore its volume to a snapshot, start it again."""
    ws = workspaces.restore(ref, home=OPTIONS.home, progress=progress())
    if OPTIONS.json:
        emit_json(ws)
    else:
        say(f"restored workspace {ws.name} to {ref} (the files before were saved in a "
            f"pre-restore snapshot of volume {ws.volume}): {_state(ws)}")


@app.command("stop")
def stop(name: str) -> None:
    """Stop JupyterLab and its kernels (files and settings stay)."""
    ws = workspaces.stop(name, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(ws)
    else:
        say(f"stopped workspace {ws.name}")


@app.command("start")
def start(name: str) -> None:
    """Start a stopped workspace; prints the URL."""
    ws = workspaces.start(name, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(ws)
    else:
        say(f"workspace {ws.name}: {_state(ws)}")
        say(f"url: {ws.url}")


@app.command("delete")
def delete(name: str, keep_volume: bool = typer.Option(False, "--keep-volume",
                                                       help="Keep the volume and its "
                                                       "snapshots."),
           yes: bool = options.yes()) -> None:
    """Delete a workspace and (unless --keep-volume) its volume."""

    def question() -> str:
        ws = workspaces.show(name, home=OPTIONS.home)
        return f"delete workspace {ws.name}" + (
            "?" if keep_volume else f" and its volume {ws.volume} with its snapshots?")

    options.ask_first(yes, question)
    ws = workspaces.delete(name, keep_volume=keep_volume, home=OPTIONS.home)
    if OPTIONS.json:
        emit_json(ws)
    else:
        kept = f" (volume {ws.volume} kept)" if keep_volume else ""
        say(f"deleted workspace {ws.name}{kept}")
